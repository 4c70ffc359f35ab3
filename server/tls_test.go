package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "reach test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	// startServer's own plain-text client cannot connect; it is not used.
	ts := startServer(t, testOptions{cfg: Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}})
	c, err := authzed.NewClient(ts.grpcAddr,
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")),
		grpc.WithPerRPCCredentials(bearer(testKey)))
	require.NoError(t, err)
	defer c.Close()
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c, "document:d1#viewer@user:ana")
	resp, err := c.CheckPermission(testCtx(t), &v1.CheckPermissionRequest{Consistency: fully(), Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")})
	require.NoError(t, err)
	require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())

	// A plain-text client is refused.
	plain, err := authzed.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(testKey)))
	require.NoError(t, err)
	defer plain.Close()
	_, err = plain.CheckPermission(testCtx(t), &v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")})
	require.Error(t, err)

	// The gateway serves HTTPS.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+ts.httpAddr+"/v1/permissions/check", strings.NewReader(
		`{"consistency":{"fullyConsistent":true},"resource":{"objectType":"document","objectId":"d1"},"permission":"view","subject":{"object":{"objectType":"user","objectId":"ana"}}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	hr, err := hc.Do(req)
	require.NoError(t, err)
	defer hr.Body.Close()
	require.Equal(t, http.StatusOK, hr.StatusCode)
}
