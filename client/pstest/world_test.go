package pstest

import (
	"bytes"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDemoConstants(t *testing.T) {
	for s, want := range map[string]string{
		"vault-passwordsafe demo api key":               DemoAPIKey,
		"vault-passwordsafe demo api key with password": DemoAPIKeyWithPassword,
	} {
		sum := sha512.Sum512([]byte(s))
		if got := hex.EncodeToString(sum[:]); got != want || len(want) != 128 {
			t.Errorf("key for %q = %s", s, want)
		}
	}
	if len(DemoClientSecret) != 48 || len(DemoClientID) != 36 {
		t.Error("demo OAuth client sizes")
	}
	w := DemoWorld()
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	accounts := 0
	for _, s := range w.Systems {
		accounts += len(s.Accounts)
	}
	if len(w.Systems) != 44 || accounts != 46 || len(w.Aliases) != 3 {
		t.Errorf("demo world: %d systems, %d accounts, %d aliases", len(w.Systems), accounts, len(w.Aliases))
	}
	if w.Systems[4].Name != "load-00" || w.Systems[43].Name != "load-39" || w.Systems[43].Accounts[0].ID != 1391 {
		t.Errorf("load systems: %+v", w.Systems[43])
	}
	// DemoWorld returns independent copies.
	w.Systems[0].Accounts[0].Password = "changed"
	if DemoWorld().Systems[0].Accounts[0].Password == "changed" {
		t.Error("DemoWorld shares state between calls")
	}
}

func TestLoadWorld(t *testing.T) {
	fromYAML, err := LoadWorld("testdata/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := LoadWorld("testdata/world.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatalf("world.yaml and world.json differ:\n%+v\n%+v", fromYAML, fromJSON)
	}
	w := fromYAML
	if len(w.Users) != 4 || len(w.Systems) != 2 || w.Systems[1].Accounts[1].APIEnabled == nil || *w.Systems[1].Accounts[1].APIEnabled {
		t.Fatalf("loaded world: %+v", w)
	}

	for _, tc := range []struct {
		file string
		w    *World
	}{{"yaml", fromYAML}, {"json", fromJSON}} {
		t.Run(tc.file, func(t *testing.T) {
			s := NewServer(tc.w)
			defer s.Close()
			u := newUser(t, s, "svc-vault")
			st, body := u.signAppin("PS-Auth key=" + w.APIRegistrations[0].Key + "; runas=svc-vault;")
			wantStatus(t, "sign in", st, body, 200, "")
			id := u.mustCreate(10, 101, 30)
			if _, pw := u.credential(id, ""); pw != "Stage-Pg-Initial!1a" {
				t.Fatalf("credential %q", pw)
			}
			// Account 201: approval policy, svc-vault only.
			pid := u.mustCreate(20, 201, 30)
			if rs := mustState(t, s, pid); rs.Status != StatusPending {
				t.Fatalf("201: %+v", rs)
			}
			st, body = u.do(http.MethodGet, "ManagedAccounts?systemName=bastion-01&accountName=hidden", nil)
			wantStatus(t, "API-disabled account", st, body, 404, "")
			st, body = u.do(http.MethodGet, "ManagedAccounts?workgroupName=ops%20workgroup", nil)
			wantStatus(t, "workgroup", st, body, 200, `"AccountId":201`)
			st, body = u.do(http.MethodGet, "Aliases?name=stage-db", nil)
			wantStatus(t, "alias", st, body, 200, `"AccountId":101`)
			dave := newUser(t, s, "dave")
			st, body = dave.signAppin("PS-Auth key=" + w.APIRegistrations[1].Key + "; runas=dave; pwd=[Dave-Pw-1!];")
			wantStatus(t, "password registration", st, body, 200, "")
			st, body = dave.do(http.MethodPost, "Requests", map[string]any{"SystemID": 20, "AccountID": 201, "DurationMinutes": 5})
			wantStatus(t, "dave is not a requestor of 201", st, body, 403, "4031")
		})
	}
}

func TestLoadWorldErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, file, content, want string
	}{
		{"unknown YAML field", "a.yaml", "users: []\nsystem: []\n", "field system not found"},
		{"unknown JSON field", "a.json", `{"users": [], "sytems": []}`, "unknown field"},
		{"bad extension", "a.toml", "", "unknown extension"},
		{"unknown approver", "b.yaml", "users: [{name: a, password: p, roles: [requestor]}]\nsystems: [{id: 1, name: s, accounts: [{id: 1, name: x, password: p, policy: {approvers: [zed], requiredApprovals: 1}}]}]\n", `unknown approver "zed"`},
		{"approver without role", "c.yaml", "users: [{name: a, password: p, roles: [requestor]}]\nsystems: [{id: 1, name: s, accounts: [{id: 1, name: x, password: p, policy: {approvers: [a]}}]}]\n", "no approver role"},
		{"duplicate account", "d.yaml", "systems: [{id: 1, name: s, accounts: [{id: 1, name: x, password: p}, {id: 1, name: y, password: p}]}]\n", "account id 1 used twice"},
		{"alias to a missing account", "e.yaml", "systems: [{id: 1, name: s, accounts: [{id: 1, name: x, password: p}]}]\naliases: [{id: 1, name: al, systemId: 1, accountId: 2, state: 1}]\n", "not an account of system 1"},
		{"bad role", "f.yaml", "users: [{name: a, password: p, roles: [admin]}]\n", "unknown role"},
		{"oauth client of unknown user", "g.yaml", "oauthClients: [{id: i, secret: s, user: nobody}]\n", "unknown user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadWorld(write(tc.file, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := LoadWorld(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := New(&World{Aliases: []Alias{{ID: 1, Name: "x", SystemID: 9, AccountID: 9}}}); err == nil {
		t.Error("New accepted an invalid world")
	}
}

func TestTLSServer(t *testing.T) {
	s := NewTLSServer(nil)
	defer s.Close()
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || s.APIURL != s.URL+APIBasePath {
		t.Fatalf("URL %s APIURL %s", s.URL, s.APIURL)
	}
	cert := s.Certificate()
	if cert == nil || cert.VerifyHostname("127.0.0.1") != nil || cert.VerifyHostname("localhost") != nil {
		t.Fatalf("Certificate = %v, want one for 127.0.0.1 and localhost", cert)
	}
	if s.Certificate() != cert {
		t.Error("Certificate returned another certificate")
	}
	block, _ := pem.Decode(s.CACertPEM())
	if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, cert.Raw) {
		t.Fatal("CACertPEM is not Certificate in PEM form")
	}
	if c1, c2 := s.Client(), s.Client(); c1 != c2 {
		t.Error("Client returned a new client")
	}
	u := signIn(t, s, "svc-vault") // s.Client() trusts the certificate
	st, body := u.do(http.MethodGet, "Aliases", nil)
	wantStatus(t, "over TLS", st, body, 200, "")
	resp, err := s.Client().Get(s.URL + "/_pstest/clock")
	if err != nil {
		t.Fatalf("Client over TLS: %v", err)
	}
	resp.Body.Close()
	// A client that trusts Certificate, built by hand, connects too.
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	own := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err = own.Get(s.URL + "/_pstest/clock")
	if err != nil {
		t.Fatalf("a client trusting Certificate: %v", err)
	}
	resp.Body.Close()
	own.CloseIdleConnections()
	// A client without the CA refuses the server.
	if _, err := http.DefaultClient.Get(s.URL); err == nil {
		t.Error("an untrusting client connected")
	}
}

func TestPlainServerClient(t *testing.T) {
	s := NewServer(nil)
	defer s.Close()
	if s.Certificate() != nil || s.CACertPEM() != nil {
		t.Error("a plain-HTTP server has a certificate")
	}
	if c1, c2 := s.Client(), s.Client(); c1 == nil || c1 != c2 {
		t.Fatal("Client is nil or a new client on each call")
	}
	resp, err := s.Client().Get(s.URL + "/_pstest/clock")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	n, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c1, c2 := n.Client(), n.Client(); n.Certificate() != nil || n.CACertPEM() != nil || c1 == nil || c1 != c2 {
		t.Error("New: want no certificate and one client")
	}
}
