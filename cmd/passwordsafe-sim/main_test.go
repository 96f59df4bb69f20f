package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/testlog"
)

// startSim runs the command in-process and waits for its ready file.
func startSim(t *testing.T, args ...string) (root string, stderr *testlog.Buffer, stop func() error) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &testlog.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0", "-ready-file", ready}, args...), io.Discard, stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && len(b) > 0 {
			root = strings.TrimSpace(string(b))
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("sim exited early: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("sim not ready:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("sim did not stop")
		}
		return nil
	}
	t.Cleanup(func() { _ = stop() })
	return root, stderr, stop
}

// TestWriteClientCert: -write-client-cert writes a certificate of this
// run's client CA that the registration requiring one accepts.
func TestWriteClientCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "client")
	certPath := filepath.Join(t.TempDir(), "ca.pem")
	root, _, _ := startSim(t, "-tls", "-cert-out", certPath, "-write-client-cert", dir)
	caPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "client-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client-key.pem: %v, mode %v", err, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, "client-ca.pem")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		withCert bool
		want     int
	}{{"with the certificate", true, 200}, {"without", false, 401}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := client.Config{BaseURL: root + pstest.APIBasePath, CACertPEM: caPEM, APIKey: pstest.DemoAPIKeyWithClientCert,
				RunAs: pstest.DemoUserSvcVault, MaxRetries: -1}
			if tc.withCert {
				cfg.ClientCertPEM, cfg.ClientKeyPEM = certPEM, keyPEM
			}
			c, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.SignIn(ctx)
			switch {
			case tc.want == 200 && err != nil:
				t.Fatalf("SignIn with the written certificate: %v", err)
			case tc.want == 401 && !client.IsUnauthorized(err):
				t.Fatalf("SignIn without a certificate = %v, want 401", err)
			}
			_ = c.SignOut(ctx)
		})
	}
}

func TestServeTLS(t *testing.T) {
	certPath := filepath.Join(t.TempDir(), "ca.pem")
	root, logs, stop := startSim(t, "-tls", "-cert-out", certPath)
	if !strings.HasPrefix(root, "https://127.0.0.1:") {
		t.Fatalf("root %q", root)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert-out holds no certificate")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	api := root + pstest.APIBasePath

	req, _ := http.NewRequest(http.MethodPost, api+"/Auth/SignAppin", nil)
	req.Header.Set("Authorization", "PS-Auth key="+pstest.DemoAPIKeyWithPassword+"; runas=alice; pwd=["+pstest.DemoPasswordAlice+"];")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("SignAppin: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, api+"/Requests", strings.NewReader(`{"SystemID":2,"AccountID":21,"DurationMinutes":5}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	idBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("POST Requests: %d %s", resp.StatusCode, idBytes)
	}
	id := string(idBytes)
	var secrets []string
	for _, typ := range []string{"password", "dsskey", "passphrase"} {
		resp, err = hc.Get(api + "/Credentials/" + id + "?type=" + typ)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var v string
		if resp.StatusCode != 200 || json.Unmarshal(b, &v) != nil || v == "" {
			t.Fatalf("credential %s: %d %s", typ, resp.StatusCode, b)
		}
		secrets = append(secrets, v)
	}
	req, _ = http.NewRequest(http.MethodPut, api+"/Requests/"+id+"/Checkin", nil)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("checkin: %d", resp.StatusCode)
	}

	// Control API: the rotated password and the world's credentials.
	resp, err = hc.Get(root + "/_pstest/accounts/21/password")
	if err != nil {
		t.Fatal(err)
	}
	var pw struct{ Password string }
	json.NewDecoder(resp.Body).Decode(&pw)
	resp.Body.Close()
	if pw.Password == "" || pw.Password == secrets[0] {
		t.Fatalf("password after checkin %q", pw.Password)
	}
	secrets = append(secrets, pw.Password)
	resp, err = hc.Get(root + "/_pstest/world")
	if err != nil {
		t.Fatal(err)
	}
	var creds pstest.Credentials
	json.NewDecoder(resp.Body).Decode(&creds)
	resp.Body.Close()
	if creds.APIURL != api {
		t.Errorf("world api_url %q, want %q", creds.APIURL, api)
	}

	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	out := logs.String()
	for _, want := range []string{`endpoint="POST Auth/SignAppin"`, `endpoint="PUT Requests/{id}/Checkin"`, "status=204", "passwordsafe-sim listening"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	secrets = append(secrets, pstest.DemoAPIKeyWithPassword, pstest.DemoPasswordAlice, pstest.DemoClientSecret, pstest.DemoAPIKey)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("logs hold a secret (%d chars)", len(s))
		}
	}
	for _, c := range jar.Cookies(mustParse(t, root)) {
		if strings.Contains(out, c.Value) {
			t.Error("logs hold the session cookie")
		}
	}
}

func TestServeHTTPWorldAndFakeClock(t *testing.T) {
	root, _, _ := startSim(t, "-world", "../../client/pstest/testdata/world.yaml", "-clock", "fake", "-quiet")
	resp, err := http.Get(root + "/_pstest/clock")
	if err != nil {
		t.Fatal(err)
	}
	var c1 struct{ Now string }
	json.NewDecoder(resp.Body).Decode(&c1)
	resp.Body.Close()
	time.Sleep(1100 * time.Millisecond)
	resp, _ = http.Get(root + "/_pstest/clock")
	var c2 struct{ Now string }
	json.NewDecoder(resp.Body).Decode(&c2)
	resp.Body.Close()
	if c1.Now == "" || c1.Now != c2.Now {
		t.Errorf("fake clock moved: %s -> %s", c1.Now, c2.Now)
	}
	resp, _ = http.Get(root + "/_pstest/world")
	var creds pstest.Credentials
	json.NewDecoder(resp.Body).Decode(&creds)
	resp.Body.Close()
	if len(creds.Users) != 4 || !strings.HasPrefix(creds.APIURL, "http://127.0.0.1:") {
		t.Errorf("world from file: %+v", creds)
	}
}

func TestReadyFileRemovedOnExit(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-ready-file", ready, "-quiet"}, io.Discard, io.Discard)
	}()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("ready file left behind: %v", err)
	}
}

func TestPrintCredentials(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-print-credentials"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var c pstest.Credentials
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if c.APIURL != "http://127.0.0.1:9443/BeyondTrust/api/public/v3" || c.APIRegistrations[0].Key != pstest.DemoAPIKey || c.OAuthClients[0].ClientID != pstest.DemoClientID || len(c.Users) != 7 {
		t.Errorf("credentials: %+v", c)
	}

	out.Reset()
	if err := run(context.Background(), []string{"-print-env", "-tls", "-cert-out", "/tmp/x.pem", "-write-client-cert", "/tmp/pssim-client", "-listen", "localhost:8200"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	env := out.String()
	for _, want := range []string{
		"export PSSIM_API_URL='https://localhost:8200/BeyondTrust/api/public/v3'\n",
		"export PSSIM_URL='https://localhost:8200'\n",
		"export PSSIM_API_KEY='" + pstest.DemoAPIKey + "'\n",
		"export PSSIM_API_KEY_WITH_PASSWORD='" + pstest.DemoAPIKeyWithPassword + "'\n",
		"export PSSIM_RUN_AS='svc-vault'\n",
		"export PSSIM_RUN_AS_PASSWORD='" + pstest.DemoPasswordSvcVault + "'\n",
		"export PSSIM_CLIENT_ID='" + pstest.DemoClientID + "'\n",
		"export PSSIM_CLIENT_SECRET='" + pstest.DemoClientSecret + "'\n",
		"export PSSIM_CA_CERT='/tmp/x.pem'\n",
		"export PSSIM_API_KEY_WITH_CLIENT_CERT='" + pstest.DemoAPIKeyWithClientCert + "'\n",
		"export PSSIM_CLIENT_CERT='/tmp/pssim-client/client.pem'\n",
		"export PSSIM_CLIENT_KEY='/tmp/pssim-client/client-key.pem'\n",
		"export PSSIM_USER_EXAMPLE_ERIN_PASSWORD='" + pstest.DemoPasswordErin + "'\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"-print-credentials", "-world", "../../client/pstest/testdata/world.json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "fixture-client-secret") {
		t.Errorf("-world not used: %s", out.String())
	}
}

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-listen", "0.0.0.0:9443"}, "not a loopback address"},
		{[]string{"-listen", ":9443"}, "not a loopback address"},
		{[]string{"-listen", "192.168.1.2:9443"}, "not a loopback address"},
		{[]string{"-listen", "nohost"}, "missing port"},
		{[]string{"-cert-out", "x.pem"}, "needs -tls"},
		{[]string{"-write-client-cert", "dir"}, "needs -tls"},
		{[]string{"-clock", "slow"}, "real or fake"},
		{[]string{"-world", "missing.yaml"}, "no such file"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		err := run(context.Background(), append(c.args, "-print-credentials"), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
	for _, ok := range []string{"127.0.0.1:1", "localhost:1", "[::1]:1", "127.9.9.9:1"} {
		if err := checkListen(ok, false); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := checkListen("0.0.0.0:1", true); err != nil {
		t.Errorf("-allow-remote: %v", err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
