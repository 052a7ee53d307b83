package control

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The control endpoint is reachable only by the pair's owner (a 0600 socket
// in a 0700 directory); on top of that every request carries a token
// derived from the pair's secret, so a process that can reach the socket
// but does not know the secret (another pair's ftmctl, a stale directory,
// a copied socket path) is refused.
//
// The token is HMAC-SHA256(secret, "ftmctl control\x00" + node): a proof of
// the secret bound to one node, compared in constant time.

// AuthHeader carries AuthScheme followed by the hex token of a request.
const AuthHeader = "Authorization"

// AuthScheme prefixes the token in AuthHeader.
const AuthScheme = "FTM-HMAC "

// ErrAuth is a refused control request.
var ErrAuth = errors.New("authentication failed")

// Token is the token for node under secret.
func Token(secret []byte, node string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("ftmctl control\x00" + node))
	return m.Sum(nil)
}

// ReadSecret reads the pair's secret without creating one (the client side).
func ReadSecret(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, SecretFile))
	if err != nil {
		return nil, fmt.Errorf("read the pair's secret: %w", err)
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("the pair's secret %s is corrupt: %w", filepath.Join(dir, SecretFile), err)
	}
	return s, nil
}

// RequireToken refuses requests without node's token.
func RequireToken(secret []byte, node string, next http.Handler) http.Handler {
	want := Token(secret, node)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get(AuthHeader)
		got, err := hex.DecodeString(strings.TrimPrefix(h, AuthScheme))
		if !strings.HasPrefix(h, AuthScheme) || err != nil || !hmac.Equal(got, want) {
			http.Error(w, ErrAuth.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
