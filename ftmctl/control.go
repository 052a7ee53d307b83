package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// controlClient talks to one node's control socket.
type controlClient struct {
	node    string
	http    *http.Client
	token   string
	authErr error // the secret could not be read: every request fails with it
}

func newControlClient(dir, node string) *controlClient {
	sock := filepath.Join(dir, node+".sock")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	c := &controlClient{node: node, http: &http.Client{Transport: tr, Timeout: 3 * time.Second}}
	secret, err := readSecret(dir)
	if err != nil {
		c.authErr = fmt.Errorf("node %s: %w (%v)", node, errAuth, err)
	} else {
		c.token = authScheme + hex.EncodeToString(controlToken(secret, node))
	}
	return c
}

// withTimeout returns a client whose requests may take up to d (ckpt now
// waits for a checkpoint).
func (c *controlClient) withTimeout(d time.Duration) *controlClient {
	cc := *c
	h := *c.http
	h.Timeout = d
	cc.http = &h
	return &cc
}

// do sends req and returns the answer's body, or the node's one-line
// refusal.
func (c *controlClient) do(req *http.Request) (io.ReadCloser, error) {
	if c.authErr != nil {
		return nil, c.authErr
	}
	req.Header.Set(authHeader, c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, fmt.Errorf("node %s is not answering on its control socket (is the pair up?)", c.node)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		return nil, fmt.Errorf("node %s: %w", c.node, errAuth)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		line, _, _ := strings.Cut(strings.TrimSpace(string(msg)), "\n")
		if line == "" {
			line = req.URL.Path + " " + resp.Status
		}
		return nil, fmt.Errorf("node %s: %s", c.node, line)
	}
	return resp.Body, nil
}

// post sends body as JSON to path and decodes the JSON answer into v; a
// refusal comes back as the node's one-line reason.
func (c *controlClient) post(ctx context.Context, path string, body, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://node"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	rc, err := c.do(req)
	if err != nil {
		return err
	}
	defer rc.Close()
	return json.NewDecoder(rc).Decode(v)
}

// get fetches path from the node and decodes the JSON answer into v.
func (c *controlClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://node"+path, nil)
	if err != nil {
		return err
	}
	rc, err := c.do(req)
	if err != nil {
		return err
	}
	defer rc.Close()
	return json.NewDecoder(rc).Decode(v)
}

// getRaw fetches path and returns the answer as it is (at most 16 MiB).
func (c *controlClient) getRaw(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://node"+path, nil)
	if err != nil {
		return nil, err
	}
	rc, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 16<<20))
}
