package main

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

const authHeader = "Authorization"
const authScheme = "FTM-HMAC "

// errAuth is a refused control request.
var errAuth = errors.New("authentication failed")

// controlToken is the token for node under secret.
func controlToken(secret []byte, node string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("ftmctl control\x00" + node))
	return m.Sum(nil)
}

// readSecret reads the pair's secret without creating one (the client side).
func readSecret(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, secretFile))
	if err != nil {
		return nil, fmt.Errorf("read the pair's secret: %w", err)
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("the pair's secret %s is corrupt: %w", filepath.Join(dir, secretFile), err)
	}
	return s, nil
}

// requireToken refuses requests without node's token.
func requireToken(secret []byte, node string, next http.Handler) http.Handler {
	want := controlToken(secret, node)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get(authHeader)
		got, err := hex.DecodeString(strings.TrimPrefix(h, authScheme))
		if !strings.HasPrefix(h, authScheme) || err != nil || !hmac.Equal(got, want) {
			http.Error(w, errAuth.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
