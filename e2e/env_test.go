//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

const mount = "passwordsafe"

// env is one test's world: the simulator (in process, so the test can look
// inside it), one or more Vault servers, and what the checks at the end need:
// every secret the test saw and which request each lease it made holds.
type env struct {
	t      *testing.T
	world  *pstest.World
	sim    *pstest.Server
	vaults []*vault

	mu       sync.Mutex
	active   *vault            // the node to talk to (the only one outside HA tests)
	secrets  map[string]string // secret -> what it is (never printed)
	leaseReq map[string]int    // lease ID -> simulator request ID, for leases the test made
	logs     []string          // extra logs to scan (agent)
}

// newEnv starts the simulator with the demo world. Cleanups run in reverse:
// the orphan check (Vault still up), then Vault stops, then the log scan,
// then the simulator closes.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWorld(t, pstest.DemoWorld())
}

// newEnvWorld is newEnv with another world (the demo world with more
// accounts, for instance).
func newEnvWorld(t *testing.T, w *pstest.World) *env {
	t.Helper()
	// The first t.TempDir call registers the removal of every later one:
	// made here, before the log scan is registered, the directories outlive
	// the scan (cleanups run last registered first).
	_ = t.TempDir()
	e := &env{t: t, world: w, secrets: map[string]string{}, leaseReq: map[string]int{}}
	e.sim = pstest.NewServer(w)
	// Wall-clock time, as in production and `make dev`: a request Password
	// Safe would expire on its own does, and a test that relied on Vault
	// never checking in would see "expired", not "checkedin".
	e.sim.UseRealClock()
	t.Cleanup(e.sim.Close)
	e.addWorldSecrets()
	t.Cleanup(e.scanLogs)
	return e
}

// devVault starts a dev server with the plugin registered, mounted and
// configured against the simulator.
func (e *env) devVault() *vault {
	e.t.Helper()
	v := startDevVault(e.t, strings.NewReplacer("/", "-", " ", "-").Replace(e.t.Name()))
	e.addVault(v)
	e.setup(v)
	return v
}

// addVault makes v part of the env (log scan; the first one is the active
// node) and registers the orphan check, which must run while Vault is up.
func (e *env) addVault(v *vault) {
	e.mu.Lock()
	e.vaults = append(e.vaults, v)
	if e.active == nil {
		e.active = v
		e.mu.Unlock()
		e.t.Cleanup(e.checkOrphans)
		return
	}
	e.mu.Unlock()
}

func (e *env) setActive(v *vault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.active = v
}

func (e *env) vault() *vault {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active
}

// setup registers the plugin by SHA-256 and version, mounts it and writes
// the config that points it at the simulator.
func (e *env) setup(v *vault) {
	e.t.Helper()
	v.enableAudit()
	v.registerPlugin()
	v.enable(mount)
	e.writeConfig(v)
}

func (e *env) writeConfig(v *vault) {
	e.t.Helper()
	v.must("write", mount+"/config",
		"url="+e.sim.APIURL,
		"api_key="+pstest.DemoAPIKey,
		"run_as="+pstest.DemoUserSvcVault,
		"allow_plain_http=true", // the simulator serves plain http on loopback
	)
}

// writeRole writes roles/<name> with key=value fields.
func (e *env) writeRole(name string, fields ...string) {
	e.t.Helper()
	e.vault().must(append([]string{"write", mount + "/roles/" + name}, fields...)...)
}

// secret is the JSON the vault CLI prints for a read that returns a lease.
type secret struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Warnings      []string       `json:"warnings"`
}

// creds reads creds/<role> with token (root when empty) and remembers the
// returned credential as a secret and which simulator request the lease holds.
func (e *env) creds(token, role string, args ...string) secret {
	e.t.Helper()
	s, err := e.tryCreds(e.vault(), token, role, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) tryCreds(v *vault, token, role string, args ...string) (secret, error) {
	if token == "" {
		token = v.rootToken()
	}
	before := e.requestIDs()
	var s secret
	cmd := []string{"read"}
	if len(args) > 0 {
		cmd = []string{"write"}
	}
	if err := v.jsonAs(token, &s, cmd, append([]string{mount + "/creds/" + role}, args...)...); err != nil {
		return s, err
	}
	e.noteSecrets(s.Data, "credential of role "+role)
	if s.LeaseID == "" {
		return s, fmt.Errorf("creds/%s: no lease in the answer (warnings %v)", role, s.Warnings)
	}
	id := requestIDOf(s.Data)
	if id == 0 {
		// The answer does not name the request: the one that appeared is it.
		for _, r := range e.sim.Inspect().Requests() {
			if !before[r.ID] && r.Status == "active" {
				id = r.ID
			}
		}
	}
	if id == 0 {
		return s, fmt.Errorf("creds/%s: cannot tell which simulator request lease %s holds", role, s.LeaseID)
	}
	e.mu.Lock()
	e.leaseReq[s.LeaseID] = id
	e.mu.Unlock()
	return s, nil
}

// requestIDOf finds the Password Safe request ID in a creds answer.
func requestIDOf(data map[string]any) int {
	for _, k := range []string{"request_id", "requestId", "RequestID"} {
		switch v := data[k].(type) {
		case float64:
			return int(v)
		case string:
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		case json.Number:
			if n, err := v.Int64(); err == nil {
				return int(n)
			}
		}
	}
	return 0
}

func (e *env) requestIDs() map[int]bool {
	m := map[int]bool{}
	for _, r := range e.sim.Inspect().Requests() {
		m[r.ID] = true
	}
	return m
}

// requestOf is the simulator request a lease made by this test holds.
func (e *env) requestOf(leaseID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.leaseReq[leaseID]
	if !ok {
		e.t.Fatalf("lease %s was not made through env.creds", leaseID)
	}
	return id
}

// waitStatus waits until the simulator shows request id in status.
func (e *env) waitStatus(id int, status string, timeout time.Duration) pstest.RequestState {
	e.t.Helper()
	var got pstest.RequestState
	eventually(e.t, timeout, fmt.Sprintf("request %d to be %s", id, status), func() (bool, string) {
		r, ok := e.sim.Inspect().Request(id)
		if !ok {
			return false, "unknown to the simulator"
		}
		got = r
		return r.Status == status, "status " + r.Status
	})
	return got
}

// --- secrets and logs -------------------------------------------------------

func (e *env) addSecret(s, what string) {
	if len(s) < 6 { // too short to search for without false alarms
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.secrets[s]; !ok {
		e.secrets[s] = what
	}
}

func (e *env) addWorldSecrets() {
	w := e.world
	for _, r := range w.APIRegistrations {
		e.addSecret(r.Key, "API key "+r.Name)
	}
	for _, c := range w.OAuthClients {
		e.addSecret(c.Secret, "OAuth client secret")
	}
	for _, u := range w.Users {
		e.addSecret(u.Password, "password of user "+u.Name)
	}
	for _, s := range w.Systems {
		for _, a := range s.Accounts {
			what := fmt.Sprintf("account %d (%s/%s)", a.ID, s.Name, a.Name)
			e.addSecret(a.Password, "password of "+what)
			e.addKey(a.PrivateKey, "DSS key of "+what)
			e.addSecret(a.Passphrase, "passphrase of "+what)
		}
	}
	for _, s := range w.Secrets {
		what := fmt.Sprintf("Secrets Safe secret %s (%s)", s.ID, s.Title)
		e.addSecret(s.Password, "password of "+what)
		e.addSecret(s.Text, "text of "+what)
		e.addSecret(s.FileContent, "file of "+what)
	}
}

// addKey adds a private key and each long line of it (a log may hold a key
// re-wrapped or with escaped newlines).
func (e *env) addKey(key, what string) {
	if key == "" {
		return
	}
	e.addSecret(key, what)
	for _, line := range strings.Split(key, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 24 && !strings.HasPrefix(line, "-----") && !strings.Contains(line, ":") {
			e.addSecret(line, what+" (a line of it)")
		}
	}
}

// noteSecrets remembers every credential-looking value of a Vault answer.
func (e *env) noteSecrets(data map[string]any, what string) {
	for k, v := range data {
		s, ok := v.(string)
		if !ok {
			continue
		}
		lk := strings.ToLower(k)
		switch {
		case strings.Contains(lk, "key"):
			e.addKey(s, what+" ("+k+")")
		case strings.Contains(lk, "password"), strings.Contains(lk, "passphrase"), strings.Contains(lk, "secret"):
			e.addSecret(s, what+" ("+k+")")
		}
	}
}

// addLog adds a log file (an agent's) to the scan.
func (e *env) addLog(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs = append(e.logs, path)
}

// scanLogs fails the test if any secret appears in a Vault server log (which
// holds the plugin's log lines) or an agent log. It names the secret and the
// line, never the value.
func (e *env) scanLogs() {
	// Passwords the simulator rotated to are secrets too.
	for _, s := range e.world.Systems {
		for _, a := range s.Accounts {
			e.addSecret(e.sim.Inspect().Password(a.ID), fmt.Sprintf("current password of account %d", a.ID))
		}
	}
	e.mu.Lock()
	files := append([]string{}, e.logs...)
	for _, v := range e.vaults {
		files = append(files, v.logPath)
		if v.audit {
			files = append(files, v.auditPath())
		}
	}
	secrets := make(map[string]string, len(e.secrets))
	for s, what := range e.secrets {
		secrets[s] = what
	}
	e.mu.Unlock()
	if e.t.Failed() || os.Getenv("E2E_KEEP_LOGS") != "" {
		keepLogs(e.t, files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			e.t.Errorf("log scan: %v", err)
			continue
		}
		text := string(b)
		for s, what := range secrets {
			for _, form := range secretForms(s) {
				if i := strings.Index(text, form); i >= 0 {
					line := strings.Count(text[:i], "\n") + 1
					e.t.Errorf("SECRET LEAKED: %s appears in %s line %d", what, filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), line)
					break
				}
			}
		}
	}
}

// keepLogs copies the logs of a failed test (every test with E2E_KEEP_LOGS=1) out of its temporary directory
// (removed when the test ends) and says where they are.
func keepLogs(t *testing.T, files []string) {
	dir, err := os.MkdirTemp("", "e2e-logs-"+strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+"-")
	if err != nil {
		t.Logf("keeping logs: %v", err)
		return
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// node/vault.log -> node-vault.log
		name := filepath.Base(filepath.Dir(f)) + "-" + filepath.Base(f)
		_ = os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	t.Logf("logs of this test kept in %s", dir)
}

// secretForms are the ways a secret can be written in a log: as is, JSON
// escaped, Go-quoted.
func secretForms(s string) []string {
	forms := []string{s}
	if b, err := json.Marshal(s); err == nil {
		if j := string(b[1 : len(b)-1]); j != s {
			forms = append(forms, j)
		}
	}
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		forms = append(forms, q[1:len(q)-1])
	}
	return forms
}

// --- the orphan check -------------------------------------------------------

// checkOrphans fails the test if the simulator holds an active request that
// no live lease accounts for. Leases the test made are matched by request ID;
// leases it did not see (an agent's) may each account for one request.
func (e *env) checkOrphans() {
	v := e.vault()
	if v == nil || v.proc == nil || v.proc.exited() {
		e.t.Errorf("orphan check: no running Vault to ask")
		return
	}
	deadline := time.Now().Add(15 * time.Second) // revocation after token revoke is asynchronous
	for {
		orphans, state, err := e.orphans(v)
		if err != nil {
			e.t.Errorf("orphan check: %v", err)
			return
		}
		if len(orphans) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("LEAKED REQUESTS: active in the simulator with no live lease: %v (%s)", orphans, state)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (e *env) orphans(v *vault) ([]int, string, error) {
	active := e.sim.Inspect().ActiveRequests()
	if len(active) == 0 {
		return nil, "", nil
	}
	live, err := v.liveLeases(mount + "/")
	if err != nil {
		return nil, "", err
	}
	e.mu.Lock()
	held := map[int]bool{}
	unknown := 0
	for _, l := range live {
		if id, ok := e.leaseReq[l]; ok {
			held[id] = true
		} else {
			unknown++
		}
	}
	e.mu.Unlock()
	var orphans []int
	for _, r := range active {
		if !held[r.ID] {
			orphans = append(orphans, r.ID)
		}
	}
	sort.Ints(orphans)
	if len(orphans) <= unknown {
		return nil, "", nil
	}
	return orphans, fmt.Sprintf("%d live leases, %d of them not made by the test", len(live), unknown), nil
}

// liveLeases lists every lease under prefix (sys/leases/lookup, recursively).
func (v *vault) liveLeases(prefix string) ([]string, error) {
	var out []string
	var walk func(p string) error
	walk = func(p string) error {
		s, err := v.cli("list", "-format=json", "sys/leases/lookup/"+p)
		if err != nil {
			if strings.Contains(err.Error(), "No value found") || strings.Contains(err.Error(), "exit 2") {
				return nil // nothing under p
			}
			return err
		}
		var keys []string
		if err := json.Unmarshal([]byte(s), &keys); err != nil {
			return fmt.Errorf("list %s: %w", p, err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				if err := walk(p + k); err != nil {
					return err
				}
				continue
			}
			out = append(out, p+k)
		}
		return nil
	}
	return out, walk(prefix)
}
