package backend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/paths"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/testlog"
)

const testMount = "passwordsafe/"

// testEnv is a backend on in-memory storage against a running simulator,
// sharing the simulator's clock.
type testEnv struct {
	t      testing.TB
	b      *paths.Backend // the logical backend, as Vault sees it
	e      *Engine        // its engine
	s      logical.Storage
	srv    *pstest.Server
	sys    *logical.StaticSystemView
	logs   *testlog.Buffer
	events *logical.MockEventSender

	mu      *sync.Mutex
	secrets map[string]bool // every credential handed out, never to be logged
}

// sub is te for a subtest (failures go to t).
func (te *testEnv) sub(t testing.TB) *testEnv {
	c := *te
	c.t = t
	return &c
}

type testOpts struct {
	world     *pstest.World
	config    map[string]interface{}
	noConfig  bool
	storage   logical.Storage
	sysView   *logical.StaticSystemView
	noLeakChk bool
	tls       bool
}

type opt func(*testOpts)

func withConfig(kv map[string]interface{}) opt { return func(o *testOpts) { o.config = kv } }
func withoutConfig() opt                       { return func(o *testOpts) { o.noConfig = true } }
func withStorage(s logical.Storage) opt        { return func(o *testOpts) { o.storage = s } }
func withSystemView(sv *logical.StaticSystemView) opt {
	return func(o *testOpts) { o.sysView = sv }
}

// withTLS serves the simulator over HTTPS (NewTLSServer) and configures
// the engine with its url and ca_cert.
func withTLS() opt { return func(o *testOpts) { o.tls = true } }

// newTestBackend returns a configured backend (API key of svc-vault,
// verify=false unless the options say otherwise), its storage and a fresh
// demo-world simulator. At the end of the test it asserts that the
// simulator holds no active request that no record or WAL entry accounts
// for, and that the captured log holds no secret.
func newTestBackend(t testing.TB, opts ...opt) *testEnv {
	t.Helper()
	o := &testOpts{}
	for _, f := range opts {
		f(o)
	}
	w := o.world
	if w == nil {
		w = pstest.DemoWorld()
	}
	var srv *pstest.Server
	if o.tls {
		srv = pstest.NewTLSServer(w)
	} else {
		srv = pstest.NewServer(w)
	}
	t.Cleanup(srv.Close)

	te := &testEnv{t: t, srv: srv, logs: &testlog.Buffer{}, events: logical.NewMockEventSender(), secrets: map[string]bool{}, mu: &sync.Mutex{}}
	te.s = o.storage
	if te.s == nil {
		te.s = &logical.InmemStorage{}
	}
	te.sys = o.sysView
	if te.sys == nil {
		te.sys = &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}
	}
	if te.sys.PluginEnvironment == nil {
		te.sys.PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "1.21.0"}
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "passwordsafe", Output: te.logs, Level: hclog.Trace})
	b := paths.New("v0.1.0", 0)
	if err := b.Setup(context.Background(), &logical.BackendConfig{
		Logger: logger, System: te.sys, StorageView: te.s, EventsSender: te.events,
	}); err != nil {
		t.Fatal(err)
	}
	te.b, te.e = b, b.Engine()
	te.e.SetClock(srv.Now)
	te.e.SetApprovalPoll(20 * time.Millisecond)
	// Waiting out a shared request's last seconds sleeps in real time; the
	// tests that drive it (fleet_test.go) turn it on with the simulator's
	// clock.
	te.e.SetSuccessorWait(0)

	t.Cleanup(func() {
		if !o.noLeakChk {
			te.assertNoLeak()
		}
		te.assertNoSecretsLogged()
		b.Cleanup(context.Background())
	})

	if !o.noConfig {
		cfg := map[string]interface{}{
			"url":     srv.URL, // plain http: the simulator on loopback
			"api_key": pstest.DemoAPIKey,
			"run_as":  pstest.DemoUserSvcVault,
			"verify":  false,

			"allow_plain_http": true,
		}
		if o.tls {
			delete(cfg, "allow_plain_http")
			cfg["ca_cert"] = string(srv.CACertPEM())
		}
		for k, v := range o.config {
			cfg[k] = v
		}
		te.mustOK(te.write("config", cfg))
	}
	return te
}

func (te *testEnv) req(op logical.Operation, path string, data map[string]interface{}) *logical.Request {
	return &logical.Request{
		Operation: op, Path: path, Data: data, Storage: te.s,
		MountPoint: testMount, ID: "test-request", ClientTokenAccessor: "test-token-accessor",
	}
}

func (te *testEnv) do(r *logical.Request) (*logical.Response, error) {
	return te.b.HandleRequest(context.Background(), r)
}

func (te *testEnv) write(path string, data map[string]interface{}) (*logical.Response, error) {
	return te.do(te.req(logical.UpdateOperation, path, data))
}

func (te *testEnv) read(path string) (*logical.Response, error) {
	return te.do(te.req(logical.ReadOperation, path, nil))
}

// mustOK fails the test unless the call succeeded without an error response.
func (te *testEnv) mustOK(resp *logical.Response, err error) *logical.Response {
	te.t.Helper()
	if err != nil {
		te.t.Fatalf("unexpected error: %v", err)
	}
	if resp != nil && resp.IsError() {
		te.t.Fatalf("unexpected error response: %v", resp.Error())
	}
	return resp
}

// failure returns the message and HTTP status of a failed call (error
// responses count as 400).
func failure(resp *logical.Response, err error) (string, int) {
	if err != nil {
		var coded logical.HTTPCodedError
		if errors.As(err, &coded) {
			return err.Error(), coded.Code()
		}
		if errors.Is(err, logical.ErrReadOnly) {
			return err.Error(), http.StatusServiceUnavailable
		}
		return err.Error(), http.StatusInternalServerError
	}
	if resp != nil && resp.IsError() {
		return resp.Error().Error(), http.StatusBadRequest
	}
	return "", 0
}

func (te *testEnv) mustFail(resp *logical.Response, err error, wantStatus int, wantSubstr ...string) string {
	te.t.Helper()
	msg, status := failure(resp, err)
	if status == 0 {
		te.t.Fatalf("expected a failure (HTTP %d), got success: %#v", wantStatus, resp)
	}
	if wantStatus != 0 && status != wantStatus {
		te.t.Fatalf("status = %d, want %d (message %q)", status, wantStatus, msg)
	}
	for _, s := range wantSubstr {
		if !strings.Contains(msg, s) {
			te.t.Fatalf("message %q does not contain %q", msg, s)
		}
	}
	return msg
}

func (te *testEnv) writeRole(name string, data map[string]interface{}) {
	te.t.Helper()
	te.mustOK(te.write("roles/"+name, data))
}

// creds checks out through creds/<role> (read when data is nil, else write)
// and remembers the credentials handed out.
func (te *testEnv) creds(role string, data map[string]interface{}) (*logical.Response, error) {
	var op logical.Operation = logical.ReadOperation
	if data != nil {
		op = logical.UpdateOperation
	}
	resp, err := te.do(te.req(op, "creds/"+role, data))
	te.remember(resp)
	return resp, err
}

func (te *testEnv) credsAs(role, entityID string) (*logical.Response, error) {
	r := te.req(logical.ReadOperation, "creds/"+role, nil)
	r.EntityID = entityID
	resp, err := te.do(r)
	te.remember(resp)
	return resp, err
}

func (te *testEnv) mustCreds(role string, data map[string]interface{}) *logical.Response {
	te.t.Helper()
	resp := te.mustOK(te.creds(role, data))
	if resp == nil || resp.Secret == nil {
		te.t.Fatalf("creds/%s: no lease in %#v", role, resp)
	}
	return resp
}

// secret adds s to what must never be logged.
func (te *testEnv) secret(s string) {
	te.mu.Lock()
	te.secrets[s] = true
	te.mu.Unlock()
}

func (te *testEnv) remember(resp *logical.Response) {
	if resp == nil {
		return
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	for _, k := range []string{"password", "private_key", "passphrase"} {
		if v, ok := resp.Data[k].(string); ok && v != "" {
			te.secrets[v] = true
		}
	}
}

// stored mimics Vault: the lease's internal data goes through JSON.
func stored(s *logical.Secret, leaseID string) *logical.Secret {
	raw, err := json.Marshal(s.InternalData)
	if err != nil {
		panic(err)
	}
	c := *s
	c.InternalData = nil
	if err := json.Unmarshal(raw, &c.InternalData); err != nil {
		panic(err)
	}
	c.LeaseID = leaseID
	return &c
}

func leaseIDOf(resp *logical.Response) string {
	return fmt.Sprintf("%screds/x/lease-%d", testMount, requestIDOf(resp))
}

func (te *testEnv) revoke(resp *logical.Response) error {
	r := te.req(logical.RevokeOperation, "creds/x", nil)
	r.Secret = stored(resp.Secret, leaseIDOf(resp))
	_, err := te.do(r)
	return err
}

func (te *testEnv) mustRevoke(resp *logical.Response) {
	te.t.Helper()
	if err := te.revoke(resp); err != nil {
		te.t.Fatalf("revoke: %v", err)
	}
}

func (te *testEnv) renew(resp *logical.Response, increment time.Duration) (*logical.Response, error) {
	r := te.req(logical.RenewOperation, "creds/x", nil)
	r.Secret = stored(resp.Secret, "")
	r.Secret.Increment = increment
	return te.do(r)
}

// rollback runs Vault's periodic rollback (PeriodicFunc and WAL rollback);
// immediate makes WAL entries of any age eligible.
func (te *testEnv) rollback(immediate bool) error {
	data := map[string]interface{}{}
	if immediate {
		data["immediate"] = true
	}
	resp, err := te.do(&logical.Request{Operation: logical.RollbackOperation, Storage: te.s, Data: data})
	if err == nil && resp != nil && resp.IsError() {
		err = resp.Error()
	}
	return err
}

func requestIDOf(resp *logical.Response) int {
	if resp == nil {
		return 0
	}
	id, _ := intOf(resp.Data["request_id"])
	return id
}

func (te *testEnv) walCount() int {
	te.t.Helper()
	ids, err := framework.ListWAL(context.Background(), te.s)
	if err != nil {
		te.t.Fatal(err)
	}
	return len(ids)
}

func (te *testEnv) record(id int) *Record {
	te.t.Helper()
	r, err := GetRecord(context.Background(), te.s, id)
	if err != nil {
		te.t.Fatal(err)
	}
	return r
}

// queued is the queued check-in of request id, nil when none.
func (te *testEnv) queued(id int) *Queued {
	te.t.Helper()
	q, err := GetQueued(context.Background(), te.s, id)
	if err != nil {
		te.t.Fatal(err)
	}
	return q
}

// drain lets the check-in queue's backoff pass and runs the periodic func.
func (te *testEnv) drain() {
	te.t.Helper()
	te.srv.Advance(QueueBackoffCap + time.Second)
	if err := te.rollback(false); err != nil {
		te.t.Logf("periodic: %v", err)
	}
}

// holders is every holder of request id, from storage.
func (te *testEnv) holders(id int) map[string]*HolderRec {
	te.t.Helper()
	hs, err := HoldersOf(context.Background(), te.s, id)
	if err != nil {
		te.t.Fatal(err)
	}
	return hs
}

func (te *testEnv) pendingHolders(id int) int {
	n := 0
	for _, h := range te.holders(id) {
		if h.Pending {
			n++
		}
	}
	return n
}

func (te *testEnv) status(id int) string {
	st, ok := te.srv.Inspect().Request(id)
	if !ok {
		return "unknown"
	}
	return st.Status
}

// userClient is a client for a demo user, for acting in Password Safe
// outside Vault (an approver, an operator).
func (te *testEnv) userClient(user, password string) *client.Client {
	te.t.Helper()
	c, err := client.New(client.Config{BaseURL: te.srv.APIURL, APIKey: pstest.DemoAPIKey, RunAs: user, Password: password})
	if err != nil {
		te.t.Fatal(err)
	}
	return c
}

// assertNoLeak: every active request in the simulator is accounted for by a
// record (a live lease or pending claim) or a WAL entry (rollback's job).
func (te *testEnv) assertNoLeak() {
	te.t.Helper()
	ctx := context.Background()
	walIDs, err := framework.ListWAL(ctx, te.s)
	if err != nil {
		te.t.Fatal(err)
	}
	type span struct {
		runAs           string
		system, account int
		from            time.Time
		withoutID       bool
		requestID       int
	}
	var wals []span
	for _, id := range walIDs {
		e, err := framework.GetWAL(ctx, te.s, id)
		if err != nil || e == nil {
			continue
		}
		w, err := DecodeWAL(e.Data)
		if err != nil {
			continue
		}
		wals = append(wals, span{w.RunAs, w.SystemID, w.AccountID, w.StartedAt, w.RequestID == 0, w.RequestID})
	}
	for _, r := range te.srv.Inspect().ActiveRequests() {
		if rec, _ := GetRecord(ctx, te.s, r.ID); rec != nil {
			continue
		}
		if q, _ := te.s.Get(ctx, QueueKey(r.ID)); q != nil {
			continue // the check-in queue ends it
		}
		covered := false
		for _, w := range wals {
			if w.requestID == r.ID || (w.withoutID && strings.EqualFold(w.runAs, r.UserName) &&
				w.system == r.SystemID && w.account == r.AccountID && !r.CreatedAt.Before(w.from.Add(-RollbackSlack))) {
				covered = true
			}
		}
		if !covered {
			te.t.Errorf("LEAK: simulator request %d (%s on account %d, created %s) is active with no lease record or WAL entry",
				r.ID, r.UserName, r.AccountID, r.CreatedAt)
		}
	}
}

// assertNoSecretsLogged: the log holds no API key, client secret, user
// password, account credential of the world, or credential handed out.
func (te *testEnv) assertNoSecretsLogged() {
	te.t.Helper()
	logs := te.logs.String()
	secrets := []string{
		pstest.DemoAPIKey, pstest.DemoAPIKeyWithPassword, pstest.DemoAPIKeyWithClientCert, pstest.DemoClientSecret,
		pstest.DemoPasswordSvcVault, pstest.DemoPasswordAlice, pstest.DemoPasswordBob,
		pstest.DemoPasswordCarol, pstest.DemoPasswordDave, pstest.DemoPasswordErin, pstest.DemoPasswordISA,
		pstest.DemoPassphrase21,
	}
	for _, sys := range pstest.DemoWorld().Systems {
		for _, a := range sys.Accounts {
			secrets = append(secrets, a.Password)
			if a.PrivateKey != "" {
				n := len(a.PrivateKey) / 2
				secrets = append(secrets, a.PrivateKey[n:n+40])
			}
			secrets = append(secrets, te.srv.Inspect().Password(a.ID))
		}
	}
	te.mu.Lock()
	for s := range te.secrets {
		secrets = append(secrets, s)
	}
	te.mu.Unlock()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			te.t.Errorf("a secret (%d chars, starting %q) appears in the log", len(s), s[:min(3, len(s))])
		}
	}
}

func mustJSONEntry(t testing.TB, key string, v interface{}) *logical.StorageEntry {
	t.Helper()
	e, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reasonIs reports whether a request's Reason is want followed by the
// checkout's recovery tag.
func reasonIs(got, want string) bool {
	rest, ok := strings.CutPrefix(got, want+" [vault:")
	return ok && len(rest) == 17 && strings.HasSuffix(rest, "]")
}

// intOf reads a number from response or internal data (int in process,
// float64 or json.Number after JSON).
func intOf(v interface{}) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}
