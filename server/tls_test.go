package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
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

// Over HTTP/2 (TLS) too, the read and write timeouts spare a Watch stream,
// and a request without the key is refused.
func TestHTTP2WatchOutlivesTimeouts(t *testing.T) {
	cert, pool := selfSigned(t)
	const timeout = 300 * time.Millisecond
	ts := startServer(t, testOptions{cfg: Config{
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Limits: Limits{HTTPReadTimeout: timeout, HTTPWriteTimeout: timeout},
	}})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	post := func(path, key, body string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, "https://"+ts.httpAddr+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return hc.Do(req)
	}
	schema, err := json.Marshal(map[string]string{"schema": testSchema})
	require.NoError(t, err)
	resp, err := post("/v1/schema/write", testKey, string(schema))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = post("/v1/schema/read", "", `{}`)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() { // the gateway sends the headers with the first change
		resp, err := post("/v1/watch", testKey, `{}`)
		done <- result{resp, err}
	}()
	time.Sleep(4 * timeout)
	mustWrite(t, ts.dialTLS(t, pool), "document:d1#viewer@user:ana")
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the watch")
	}
	require.NoError(t, res.err)
	defer res.resp.Body.Close()
	require.Equal(t, http.StatusOK, res.resp.StatusCode)
	line, err := bufio.NewReader(res.resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, `"objectId":"ana"`)
}

// dialTLS is a client with the right key over TLS.
func (ts *testServer) dialTLS(t *testing.T, pool *x509.CertPool) *authzed.Client {
	t.Helper()
	c, err := authzed.NewClient(ts.grpcAddr,
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")),
		grpc.WithPerRPCCredentials(bearer(testKey)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}
