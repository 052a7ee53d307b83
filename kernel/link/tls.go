package link

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
)

// TLS is a node's identity on mutually authenticated TLS links: every
// link's two ends present certificates the cluster's CA signed, each naming
// its node, and the traffic is encrypted (TLS 1.3). With Config.TLS set, the
// certificate replaces the shared-secret proof (Config.Secret is then not
// used): the CA's signature proves membership, the certificate's name the
// node.
type TLS struct {
	// CA holds the cluster's certificate authority: a peer must present a
	// certificate it signed.
	CA *x509.CertPool
	// Cert is this node's certificate and key; the certificate's common
	// name and DNS name are the node's name (Config.Name).
	Cert tls.Certificate
}

// tlsMagic opens the hello both ends send once TLS is up: it tells the
// dialer that the listener accepted its certificate (a TLS 1.3 client
// finishes its handshake before the server has checked it) and both names
// are checked against the certificates.
const tlsMagic = "FTM-LINK-TLS-1"

// errWrongPeer: a certificate that names another node than the expected peer.
var errWrongPeer = errors.New("certificate names another node")

// check reports a TLS identity that cannot work: no CA, no certificate, or
// a certificate that does not name this node.
func (t *TLS) check(name string) error {
	if t.CA == nil || len(t.Cert.Certificate) == 0 {
		return errors.New("link: TLS needs the cluster's CA and this node's certificate")
	}
	leaf := t.Cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(t.Cert.Certificate[0]); err != nil {
			return fmt.Errorf("link: this node's certificate: %w", err)
		}
	}
	if got := certName(leaf); got != name || !slices.Contains(leaf.DNSNames, name) {
		return fmt.Errorf("link: this node's certificate is for %q, not %q", got, name)
	}
	return nil
}

// certName is the node a certificate names: its common name.
func certName(c *x509.Certificate) string { return c.Subject.CommonName }

// serverConfig is the listener's side: TLS 1.3, a client certificate the
// CA signed is required, and it must name peer when peer is set.
func (t *TLS) serverConfig(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{t.Cert},
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              t.CA,
		SessionTicketsDisabled: true, // every link proves its certificate afresh
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := certName(cs.PeerCertificates[0]); peer != "" && got != peer {
				return fmt.Errorf("%w: %q, expected %q", errWrongPeer, got, peer)
			}
			return nil
		},
	}
}

// clientConfig is the dialer's side: TLS 1.3, the listener's certificate
// must be signed by the CA and name peer.
func (t *TLS) clientConfig(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.Cert},
		RootCAs:      t.CA,
		ServerName:   peer,
	}
}

// greetTLS runs the TLS handshake on raw, then exchanges hellos over it,
// and returns the encrypted connection and the peer's name, which its
// certificate carries.
func greetTLS(raw net.Conn, cfg Config, me role) (net.Conn, string, error) {
	var tc *tls.Conn
	if me == roleListener {
		tc = tls.Server(raw, cfg.TLS.serverConfig(cfg.Peer))
	} else {
		tc = tls.Client(raw, cfg.TLS.clientConfig(cfg.Peer))
	}
	if err := tc.Handshake(); err != nil {
		return nil, "", tlsFailure("TLS handshake", err)
	}
	name := certName(tc.ConnectionState().PeerCertificates[0])
	if err := writeMsg(tc, kindHello, &hello{Magic: tlsMagic, Name: cfg.Name}); err != nil {
		return nil, "", tlsFailure("send hello", err)
	}
	var theirs hello
	if err := readMsg(tc, kindHello, &theirs); err != nil {
		return nil, "", tlsFailure("read hello", err)
	}
	if theirs.Magic != tlsMagic || theirs.Name != name {
		return nil, "", fmt.Errorf("%w: peer with the certificate of %q says it is %q", ErrRejected, name, theirs.Name)
	}
	return tc, name, nil
}

// tlsFailure sorts a failed TLS step: a certificate refused, by either
// side, or a peer that does not speak TLS is ErrRejected (it proved it is
// not a member); anything else (a hang-up, a timeout) is ErrHandshakeCut.
func tlsFailure(step string, err error) error {
	var verr *tls.CertificateVerificationError
	var herr tls.RecordHeaderError
	var operr *net.OpError
	switch {
	case errors.As(err, &verr):
		return fmt.Errorf("%w: peer's certificate refused: %w", ErrRejected, verr.Err)
	case errors.Is(err, errWrongPeer):
		return fmt.Errorf("%w: peer's %w", ErrRejected, err)
	case errors.As(err, &herr):
		return fmt.Errorf("%w: peer does not speak TLS", ErrRejected)
	case errors.As(err, &operr) && operr.Op == "remote error":
		return fmt.Errorf("%w: peer refused our certificate (%w)", ErrRejected, operr.Err)
	}
	return fmt.Errorf("%w: %s: %w", ErrHandshakeCut, step, err)
}
