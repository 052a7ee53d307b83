package linkcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/ftm-in-go/ftm/kernel/link"
)

// Subdir is the folder of a state directory that holds the certificates.
const Subdir = "tls"

// Validity is how long the authority and the certificates Create makes
// stay valid.
const Validity = 10 * 365 * 24 * time.Hour

// ErrCert wraps every error of the package.
var ErrCert = errors.New("linkcert")

// Paths are the files of one node's TLS identity.
type Paths struct {
	CA   string // the cluster's authority certificate (PEM)
	Cert string // the node's certificate (PEM)
	Key  string // the node's private key (PEM, PKCS #8)
}

// NodePaths are the files of node name under the state directory dir.
func NodePaths(dir, name string) Paths {
	d := filepath.Join(dir, Subdir)
	return Paths{CA: filepath.Join(d, "ca.crt"), Cert: filepath.Join(d, name+".crt"), Key: filepath.Join(d, name+".key")}
}

// Create makes, under dir, the cluster's authority (unless it exists) and
// a certificate for each node in names (unless it has one), signed by it.
func Create(dir string, names ...string) error {
	d := filepath.Join(dir, Subdir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrCert, err)
	}
	ca, err := loadOrCreateCA(d)
	if err != nil {
		return err
	}
	for _, name := range names {
		p := NodePaths(dir, name)
		if exists(p.Cert) && exists(p.Key) {
			continue
		}
		if err := ca.issue(name, p); err != nil {
			return fmt.Errorf("%w: certificate of %s: %w", ErrCert, name, err)
		}
	}
	return nil
}

// Load reads the identity p names, for link.Config.TLS.
func Load(p Paths) (*link.TLS, error) {
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	pemCA, err := os.ReadFile(p.CA)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrCert, p.CA)
	}
	return &link.TLS{CA: pool, Cert: cert}, nil
}

// authority is the cluster's CA: its certificate and key.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadOrCreateCA reads the authority in d, or makes one.
func loadOrCreateCA(d string) (*authority, error) {
	crt, key := filepath.Join(d, "ca.crt"), filepath.Join(d, "ca.key")
	if exists(crt) && exists(key) {
		pair, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			return nil, fmt.Errorf("%w: the authority in %s: %w", ErrCert, d, err)
		}
		signer, ok := pair.PrivateKey.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not a signing key", ErrCert, key)
		}
		return &authority{cert: pair.Leaf, key: signer}, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	tmpl, err := template("ftm cluster CA")
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	if err := writeKeyPair(der, k, Paths{Cert: crt, Key: key}); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	return &authority{cert: cert, key: k}, nil
}

// issue writes a new key and a certificate naming node name, signed by ca,
// to p's Cert and Key.
func (ca *authority) issue(name string, p Paths) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template(name)
	if err != nil {
		return err
	}
	tmpl.DNSNames = []string{name}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		return err
	}
	return writeKeyPair(der, k, p)
}

// template is a certificate for cn, valid from a minute ago for Validity,
// with a random serial number.
func template(cn string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCert, err)
	}
	now := time.Now()
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(Validity)}, nil
}

// writeKeyPair writes the certificate der and key k as PEM to p's Cert and
// Key, each 0600; the key first, so a certificate file never lacks its key.
func writeKeyPair(der []byte, k *ecdsa.PrivateKey, p Paths) error {
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCert, err)
	}
	if err := writeFile(p.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})); err != nil {
		return err
	}
	return writeFile(p.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// writeFile writes b to path whole, mode 0600: a temporary file, then a
// rename.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("%w: %w", ErrCert, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // the file may have existed with wider bits
		return fmt.Errorf("%w: %w", ErrCert, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%w: %w", ErrCert, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
