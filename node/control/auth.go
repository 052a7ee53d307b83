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

// ErrSecret is a pair secret file that does not hold a secret.
var ErrSecret = errors.New("control: the pair's secret is corrupt")

// ReadSecret reads the pair's secret without creating one (the client side).
func ReadSecret(dir string) ([]byte, error) {
	p := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read the pair's secret: %w", err)
	}
	return DecodeSecret(p, b)
}

// DecodeSecret is the one format of a pair's secret, read by the nodes and
// their clients alike: hex, surrounding white space ignored, not empty.
// path names the file in the error.
func DecodeSecret(path string, b []byte) ([]byte, error) {
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrSecret, path, err)
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: %s is empty (remove it and run ftmctl pair up to make a new one)", ErrSecret, path)
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
