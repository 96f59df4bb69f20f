package backend_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/paths"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/testlog"
)

// Deterministic simulation of the lease/request contract.
//
// One seed drives a random sequence of operations against a real backend
// (HandleRequest on InmemStorage) and the simulator on its fake clock. The
// test plays Vault (it holds the leases, renews them, revokes them on
// expiry and on token revocation, retries failed revokes and gives up after
// a few tries, runs WAL rollback and the periodic function), the people
// around Password Safe (an approver, a person using the same run-as user in
// the web UI), and the faults (errors before and after Password Safe acted,
// dropped connections, session expiry, long outages, an unreachable url, and
// crashes of the plugin at any storage write or upstream call).
//
// After every step it checks, against the simulator's own state and its own
// model of Vault's leases (never the engine's bookkeeping):
//
//	I1 no leak: at quiet points (settle), every request the mount made is
//	   held by a live lease or a claimable pending request, or has ended
//	I2 no wrong end: a live lease's request is active unless an operator or
//	   the same caller's hand-over ended it; a request made outside Vault
//	   is never ended by the mount
//	I3 no false promise: a live lease ends no later than its request, and a
//	   renew of a lease whose request has ended fails
//	I4 only the holder gets the credential: a pending request's credential
//	   goes only to the caller that made it, and every credential handed
//	   out is the account's current one
//
// Runs are sequential within a seed, and every random choice (faults
// included) comes from the seed, so a failing seed replays exactly:
//
//	SIM_SEED=<seed> SIM_STEPS=<n> go test ./backend -run '^TestSimulation$' -v
//
// Knobs (environment): SIM_OPS total operations (default 30000), SIM_STEPS
// operations per seed (default 200), SIM_BASE first seed (default 1),
// SIM_SEED one seed only, SIM_TRACE=1 prints each seed's operations.

const simUserAgent = "vault-plugin-secrets-passwordsafe"

type simStats struct {
	ops, faults, crashes, checks, leases, settles, seeds atomic.Int64

	mu      sync.Mutex
	ignored map[string][]int64 // class -> seeds, for SIM_IGNORE runs
}

func (st *simStats) noteIgnored(class string, seed int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ignored == nil {
		st.ignored = map[string][]int64{}
	}
	for _, s := range st.ignored[class] {
		if s == seed {
			return
		}
	}
	st.ignored[class] = append(st.ignored[class], seed)
}

func simEnvInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

func TestSimulation(t *testing.T) {
	steps := simEnvInt("SIM_STEPS", 200)
	total := simEnvInt("SIM_OPS", 30000)
	base := simEnvInt("SIM_BASE", 1)
	var seeds []int64
	if v := os.Getenv("SIM_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED=%q: %v", v, err)
		}
		seeds = []int64{n}
	} else {
		for i := 0; i < max(1, total/steps); i++ {
			seeds = append(seeds, int64(base+i))
		}
	}
	var st simStats
	var mu sync.Mutex
	var failed []string
	work := make(chan int64)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	if workers > 4 {
		workers = 4
	}
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range work {
				if msg := runSimSeed(t, seed, steps, &st); msg != "" {
					mu.Lock()
					failed = append(failed, msg)
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range seeds {
		mu.Lock()
		n := len(failed)
		mu.Unlock()
		if n >= 5 {
			break
		}
		work <- s
	}
	close(work)
	wg.Wait()
	t.Logf("simulation: %d seeds, %d operations, %d faults injected, %d crashes, %d leases, %d settles, %d invariant checks, %d violations, in %s",
		st.seeds.Load(), st.ops.Load(), st.faults.Load(), st.crashes.Load(), st.leases.Load(), st.settles.Load(), st.checks.Load(),
		len(failed), time.Since(start).Round(time.Millisecond))
	classes := make([]string, 0, len(st.ignored))
	for c := range st.ignored {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		seeds := st.ignored[c]
		sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
		t.Logf("ignored %s in %d seeds: %v", c, len(seeds), seeds[:min(len(seeds), 12)])
	}
	sort.Strings(failed)
	for _, f := range failed {
		t.Error(f)
	}
}

// ---- the model ----

type simCaller struct {
	name     string
	entity   string // Vault entity ID, "" when none
	accessor string // token accessor, "" for batch tokens
}

// sameToEngine: whether the engine may take a and b for one caller (the
// same entity, or the same token): a hand-over between them is allowed.
func (a *simCaller) sameToEngine(b *simCaller) bool {
	if a.entity != "" || b.entity != "" {
		return a.entity == b.entity
	}
	return a.accessor != "" && a.accessor == b.accessor
}

type simLease struct {
	id        string
	secret    *logical.Secret
	requestID int
	account   int
	caller    *simCaller
	expireAt  time.Time // Vault's view
	// endedOK: the request was ended in a way the contract allows under a
	// live lease (operator check-in, same-caller hand-over, a person in
	// Password Safe); the lease lives on in Vault until revoked.
	endedOK bool
	// revoke retries, as Vault's expiration manager does them
	revoking    bool
	revokeTries int
	nextRevoke  time.Time
	irrevocable bool
}

func (l *simLease) live(now time.Time) bool {
	return !l.revoking && !l.irrevocable && now.Before(l.expireAt)
}

type simPending struct {
	requestID int
	caller    *simCaller
	account   int
}

type simRole struct {
	name    string
	account int // the account it checks out (alias roles: the alias's account)
	data    map[string]interface{}
}

var simRoles = []simRole{
	{"excl", 12, map[string]interface{}{"system_id": 1, "account_id": 12, "conflict_option": "none"}},
	{"reuse", 11, map[string]interface{}{"system_id": 1, "account_id": 11, "conflict_option": "reuse"}},
	{"alias", 11, map[string]interface{}{"alias_name": "prod-db-admin", "conflict_option": "reuse"}},
	{"renew", 1001, map[string]interface{}{"system_id": 100, "account_id": 1001, "conflict_option": "renew"}},
	{"appr", 31, map[string]interface{}{"system_id": 3, "account_id": 31, "conflict_option": "none"}},
	{"apprwait", 31, map[string]interface{}{"system_id": 3, "account_id": 31, "conflict_option": "none", "approval_wait": "3s"}},
	{"apprreuse", 31, map[string]interface{}{"system_id": 3, "account_id": 31, "conflict_option": "reuse"}},
}

// foreignAccounts are where a person using the run-as user outside Vault
// makes requests: accounts only conflict_option=none roles check out (reuse
// and renew would by Password Safe's own rules join or end that request).
var foreignAccounts = []int{12, 31}

// ---- crashes ----

var errCrashed = errors.New("sim: the plugin process has crashed")

// crashPoint kills the plugin after a number of effects (storage writes and
// upstream calls): from then on every storage call and upstream call of
// that backend fails, as if the process were gone.
type crashPoint struct {
	mu      sync.Mutex
	left    int
	armed   bool
	crashed bool
	// afterSend: the fatal upstream call reaches Password Safe (which acts)
	// before the process dies.
	afterSend bool
}

func (c *crashPoint) step() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return true
	}
	if !c.armed {
		return false
	}
	c.left--
	if c.left < 0 {
		c.crashed = true
	}
	return c.crashed
}

func (c *crashPoint) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

type crashStorage struct {
	logical.Storage
	cp *crashPoint
}

func (s crashStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	if s.cp.dead() {
		return nil, errCrashed
	}
	return s.Storage.Get(ctx, k)
}

func (s crashStorage) List(ctx context.Context, p string) ([]string, error) {
	if s.cp.dead() {
		return nil, errCrashed
	}
	return s.Storage.List(ctx, p)
}

func (s crashStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if s.cp.step() {
		return errCrashed
	}
	return s.Storage.Put(ctx, e)
}

func (s crashStorage) Delete(ctx context.Context, k string) error {
	if s.cp.step() {
		return errCrashed
	}
	return s.Storage.Delete(ctx, k)
}

type crashTransport struct {
	rt http.RoundTripper
	cp *crashPoint
}

func (t crashTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.cp.dead() {
		return nil, errCrashed
	}
	if !t.cp.step() {
		return t.rt.RoundTrip(r)
	}
	if t.cp.afterSend {
		resp, err := t.rt.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
	}
	return nil, errCrashed
}

// ---- one seed ----

type sim struct {
	t     testing.TB
	seed  int64
	rng   *rand.Rand
	stats *simStats

	srv   *pstest.Server
	store *logical.InmemStorage
	sys   *logical.StaticSystemView
	logs  *testlog.Buffer
	b     *paths.Backend
	cp    *crashPoint
	hc    *http.Client

	faultMu   sync.Mutex
	faultRng  *rand.Rand
	faultRate float64
	outage    int  // operations left in an outage
	faulted   bool // a fault fired since the last reset

	approver, foreign *client.Client

	callers  []*simCaller
	leases   []*simLease
	pending  []*simPending
	foreignR map[int]bool
	lastOp   string
	lastBy   *simCaller
	nLease   int
	badURL   bool // config points at an unreachable url
	// maxRetries is the config's max_retries, chosen per seed: with none, a
	// single fault fails a call, which reaches more clean-up
	maxRetries int
	noConfig   bool
	secrets    map[string]bool
	trace      []string
	fail       string
	ignored    map[string]bool
	failedOn   map[string]bool // caller/account of checkouts that failed
}

func runSimSeed(t *testing.T, seed int64, steps int, st *simStats) (failure string) {
	s := &sim{
		t: t, seed: seed, stats: st,
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
		faultRng: rand.New(rand.NewPCG(uint64(seed), 0xfa17)),
		foreignR: map[int]bool{},
		secrets:  map[string]bool{},
		failedOn: map[string]bool{},
	}
	st.seeds.Add(1)
	defer func() {
		if r := recover(); r != nil {
			failure = s.report(fmt.Sprintf("panic: %v", r), steps)
		}
		if s.srv != nil {
			s.srv.Close()
		}
	}()
	s.setup()
	for i := 0; i < steps && s.fail == ""; i++ {
		s.step(i)
		st.ops.Add(1)
	}
	if s.fail == "" {
		s.settle()
	}
	if s.fail == "" {
		s.checkLogs()
	}
	if os.Getenv("SIM_TRACE") != "" {
		t.Logf("seed %d trace:\n%s", seed, strings.Join(s.trace, "\n"))
	}
	if os.Getenv("SIM_LOGS") != "" {
		t.Logf("seed %d engine log:\n%s", seed, s.logs.String())
		keys, _ := logical.CollectKeys(context.Background(), s.store)
		var dump []string
		for _, k := range keys {
			if e, _ := s.store.Get(context.Background(), k); e != nil && !strings.HasPrefix(k, "config") {
				dump = append(dump, k+" "+string(e.Value))
			}
		}
		t.Logf("seed %d engine storage at the end:\n%s", seed, strings.Join(dump, "\n"))
	}
	if s.fail != "" {
		return s.report(s.fail, steps)
	}
	return ""
}

func (s *sim) report(msg string, steps int) string {
	tail := s.trace
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	return fmt.Sprintf("seed %d: %s\nreplay: SIM_SEED=%d SIM_STEPS=%d SIM_TRACE=1 go test ./backend -run '^TestSimulation$' -v\nlast operations:\n  %s",
		s.seed, msg, s.seed, steps, strings.Join(tail, "\n  "))
}

func (s *sim) logf(format string, args ...interface{}) {
	s.trace = append(s.trace, fmt.Sprintf("[%s] ", s.srv.Now().Format("15:04:05"))+fmt.Sprintf(format, args...))
}

// violate records a broken invariant; class names it for SIM_IGNORE (a
// comma-separated list of classes to note and go past, for hunting one
// failure while another is known).
func (s *sim) violate(class, format string, args ...interface{}) {
	if s.fail != "" {
		return
	}
	msg := "VIOLATION " + class + ": " + fmt.Sprintf(format, args...)
	for _, c := range strings.Split(os.Getenv("SIM_IGNORE"), ",") {
		if c == class {
			s.stats.noteIgnored(class, s.seed)
			if s.ignored[msg] {
				return
			}
			s.ignored = map[string]bool{msg: true}
			s.logf("%s (ignored)", msg)
			return
		}
	}
	s.logf("%s", msg)
	s.fail = msg
}

func (s *sim) setup() {
	w := pstest.DemoWorld()
	s.srv = pstest.NewServer(w)
	s.srv.Edit().SetHistory(100000)
	s.srv.Faults().SetFunc(s.fault)
	s.store = &logical.InmemStorage{}
	s.sys = &logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour,
		PluginEnvironment: &logical.PluginEnvironment{VaultVersion: "1.21.0"}}
	s.logs = &testlog.Buffer{}
	s.hc = &http.Client{}
	s.maxRetries = s.rng.IntN(3)
	s.newBackend()
	rate := []float64{0, 0.02, 0.05, 0.1}[s.rng.IntN(4)]

	s.callers = []*simCaller{
		{name: "ent-A", entity: "entity-a", accessor: "acc-a"},
		{name: "ent-B", entity: "entity-b", accessor: "acc-b"},
		{name: "tok-C", accessor: "acc-c"},
		{name: "tok-D", accessor: "acc-d"},
		{name: "batch-E"},
		{name: "batch-F"},
	}
	var err error
	s.approver, err = client.New(client.Config{BaseURL: s.srv.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserBob})
	if err != nil {
		panic(err)
	}
	s.foreign, err = client.New(client.Config{BaseURL: s.srv.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
	if err != nil {
		panic(err)
	}
	s.writeConfig(s.srv.URL)
	for _, r := range simRoles {
		data := map[string]interface{}{"ttl": "10m", "max_ttl": "8h"}
		for k, v := range r.data {
			data[k] = v
		}
		resp, err := s.do(s.req(logical.UpdateOperation, "roles/"+r.name, data, nil))
		if err != nil || (resp != nil && resp.IsError()) {
			panic(fmt.Sprintf("seed %d: role %s: %v %v", s.seed, r.name, err, resp))
		}
	}
	s.faultMu.Lock()
	s.faultRate = rate // faults from the first operation on, not during setup
	s.faultMu.Unlock()
}

// newBackend builds the plugin afresh on the durable storage (a start or a
// restart after a crash).
func (s *sim) newBackend() {
	s.cp = &crashPoint{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "passwordsafe", Output: s.logs, Level: hclog.Trace})
	b := paths.New("v0.1.0", 0)
	cp := s.cp
	if err := b.Setup(context.Background(), &logical.BackendConfig{
		Logger: logger, System: s.sys, StorageView: crashStorage{s.store, cp},
		EventsSender: logical.NewMockEventSender(),
	}); err != nil {
		panic(err)
	}
	e := b.Engine()
	e.SetClock(s.srv.Now)
	e.SetApprovalPoll(time.Millisecond)
	e.SetClientOptions(func(c *client.Config) {
		c.HTTPClient = &http.Client{Transport: crashTransport{rt: http.DefaultTransport, cp: cp}}
		c.RetryBackoff = time.Millisecond
	})
	s.b = b
}

func (s *sim) writeConfig(url string) bool {
	resp, err := s.do(s.req(logical.UpdateOperation, "config", map[string]interface{}{
		"url": url, "api_key": pstest.DemoAPIKey, "run_as": pstest.DemoUserSvcVault,
		"verify": false, "max_retries": s.maxRetries, "request_timeout": "10s", "allow_plain_http": true,
	}, nil))
	ok := err == nil && (resp == nil || !resp.IsError())
	s.logf("config url=%s -> ok=%v %v", url, ok, errText(resp, err))
	return ok
}

// fault decides, call by call, what goes wrong with the engine's upstream
// calls (the approver's and the foreign person's calls always work).
func (s *sim) fault(endpoint string, r *http.Request) *pstest.Fault {
	if r.Header.Get("User-Agent") != simUserAgent {
		return nil
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.outage > 0 {
		s.faulted = true
		s.stats.faults.Add(1)
		if s.faultRng.IntN(2) == 0 {
			return &pstest.Fault{Drop: true}
		}
		return &pstest.Fault{Status: http.StatusServiceUnavailable}
	}
	if s.faultRate == 0 || s.faultRng.Float64() >= s.faultRate {
		return nil
	}
	s.faulted = true
	s.stats.faults.Add(1)
	switch s.faultRng.IntN(6) {
	case 0:
		return &pstest.Fault{Status: http.StatusServiceUnavailable}
	case 1:
		return &pstest.Fault{Drop: true}
	case 2:
		return &pstest.Fault{Drop: true, AfterHandler: true} // acted, answer lost
	case 3:
		return &pstest.Fault{Status: http.StatusBadGateway, AfterHandler: true} // acted, a proxy failed
	case 4:
		return &pstest.Fault{Status: http.StatusUnauthorized} // session expired
	default:
		return &pstest.Fault{Status: http.StatusTooManyRequests}
	}
}

func (s *sim) req(op logical.Operation, path string, data map[string]interface{}, c *simCaller) *logical.Request {
	r := &logical.Request{Operation: op, Path: path, Data: data, Storage: crashStorage{s.store, s.cp},
		MountPoint: testMount, ID: "sim-request"}
	if c != nil {
		r.EntityID, r.ClientTokenAccessor = c.entity, c.accessor
		if c.accessor != "" || c.entity != "" {
			r.ClientToken = "token-of-" + c.name
		}
	}
	return r
}

func (s *sim) do(r *logical.Request) (*logical.Response, error) {
	return s.b.HandleRequest(context.Background(), r)
}

func errText(resp *logical.Response, err error) string {
	if err != nil {
		return "err: " + firstLine(err.Error())
	}
	if resp != nil && resp.IsError() {
		return "error response: " + firstLine(resp.Error().Error())
	}
	return ""
}

func firstLine(s string) string {
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// ---- operations ----

func (s *sim) pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := s.rng.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (s *sim) liveLeases() []*simLease {
	now := s.srv.Now()
	var out []*simLease
	for _, l := range s.leases {
		if l.live(now) {
			out = append(out, l)
		}
	}
	return out
}

func (s *sim) step(i int) {
	s.faultMu.Lock()
	s.faulted = false
	if s.outage > 0 {
		s.outage--
		if s.outage == 0 {
			s.logf("outage ends")
		}
	}
	s.faultMu.Unlock()

	op := s.pick(
		30, // 0 checkout
		5,  // 1 requests write (no wait)
		8,  // 2 claim
		10, // 3 renew
		10, // 4 revoke
		3,  // 5 revoke a token's leases
		6,  // 6 approve
		2,  // 7 deny
		3,  // 8 operator check-in through the mount
		2,  // 9 check-in by a person in Password Safe
		4,  // 10 foreign request
		3,  // 11 foreign check-in
		10, // 12 clock: minutes
		2,  // 13 clock: hours
		6,  // 14 rollback tick
		4,  // 15 rollback past the WAL age
		2,  // 16 outage
		1,  // 17 unreachable url / restore
		1,  // 18 config delete / restore
		5,  // 19 crash during the next operation
		1,  // 20 settle
	)
	switch op {
	case 0:
		s.checkout(false, nil)
	case 1:
		s.checkout(true, nil)
	case 2:
		s.claim(nil)
	case 3:
		s.renew()
	case 4:
		if ls := s.liveLeases(); len(ls) > 0 {
			s.revoke(ls[s.rng.IntN(len(ls))], "revoke")
		}
	case 5:
		c := s.callers[s.rng.IntN(len(s.callers))]
		s.logf("token of %s revoked", c.name)
		for _, l := range s.liveLeases() {
			if l.caller == c {
				s.revoke(l, "token revoke")
			}
		}
	case 6, 7:
		s.approveOrDeny(op == 6)
	case 8:
		s.operatorCheckin()
	case 9:
		s.outsideCheckin()
	case 10:
		s.foreignRequest()
	case 11:
		s.foreignCheckin()
	case 12:
		s.advance(time.Duration(30+s.rng.IntN(600)) * time.Second)
	case 13:
		s.advance(time.Duration(30+s.rng.IntN(180)) * time.Minute)
	case 14:
		s.rollback(false)
	case 15:
		s.rollback(true)
	case 16:
		s.faultMu.Lock()
		s.outage = 5 + s.rng.IntN(40)
		s.faultMu.Unlock()
		s.logf("outage starts for %d operations", s.outage)
	case 17:
		if s.badURL {
			s.badURL = !s.writeConfig(s.srv.URL)
		} else {
			s.badURL = s.writeConfig("http://127.0.0.1:1/BeyondTrust/api/public/v3")
		}
	case 18:
		if s.noConfig {
			s.noConfig = !s.writeConfig(s.srv.URL)
			s.badURL = s.badURL && s.noConfig
		} else {
			resp, err := s.do(s.req(logical.DeleteOperation, "config", nil, nil))
			s.noConfig = err == nil && (resp == nil || !resp.IsError())
			s.logf("config delete -> ok=%v %v", s.noConfig, errText(resp, err))
		}
	case 19:
		s.crashDuring()
	case 20:
		s.settle()
	}
	s.vaultTick()
	s.check()
}

// crashDuring runs one engine operation that dies after a random number of
// effects, then starts the plugin again on the same storage, as Vault does.
func (s *sim) crashDuring() {
	s.cp.mu.Lock()
	s.cp.armed, s.cp.left, s.cp.afterSend = true, s.rng.IntN(12), s.rng.IntN(2) == 0
	s.cp.mu.Unlock()
	s.logf("crash armed")
	switch s.pick(6, 2, 3, 2, 2) {
	case 0:
		s.checkout(false, nil)
	case 1:
		s.checkout(true, nil)
	case 2:
		if ls := s.liveLeases(); len(ls) > 0 {
			s.revoke(ls[s.rng.IntN(len(ls))], "revoke")
		}
	case 3:
		s.claim(nil)
	case 4:
		s.rollback(s.rng.IntN(2) == 0)
	}
	if s.cp.dead() {
		s.stats.crashes.Add(1)
		s.logf("plugin crashed; restarted")
		s.newBackend()
	} else {
		s.cp.mu.Lock()
		s.cp.armed = false
		s.cp.mu.Unlock()
	}
}

func (s *sim) checkout(noWait bool, c *simCaller) {
	if c == nil {
		c = s.callers[s.rng.IntN(len(s.callers))]
	}
	role := simRoles[s.rng.IntN(len(simRoles))]
	var r *logical.Request
	if noWait {
		role = simRoles[4+s.rng.IntN(3)] // the approval roles
		r = s.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": role.name}, c)
	} else {
		r = s.req(logical.ReadOperation, "creds/"+role.name, nil, c)
	}
	resp, err := s.do(r)
	s.lastOp, s.lastBy = "checkout", c
	switch {
	case err != nil || (resp != nil && resp.IsError()):
		s.logf("%s %s by %s -> %s", r.Operation, r.Path, c.name, errText(resp, err))
		s.failedOn[c.name+"/"+strconv.Itoa(role.account)] = true
	case resp != nil && resp.Secret != nil:
		s.gotLease(resp, c, role.account, r.Path)
	case resp != nil:
		id, _ := intOf(resp.Data["request_id"])
		s.logf("%s %s by %s -> request %d %v", r.Operation, r.Path, c.name, id, resp.Data["status"])
		if id > 0 {
			s.pending = append(s.pending, &simPending{requestID: id, caller: c, account: role.account})
		}
	}
}

// gotLease registers a lease as Vault does, and checks I4's credential half.
func (s *sim) gotLease(resp *logical.Response, c *simCaller, account int, path string) {
	id := requestIDOf(resp)
	s.nLease++
	s.stats.leases.Add(1)
	l := &simLease{id: fmt.Sprintf("%s%s/%d", testMount, path, s.nLease), requestID: id, account: account, caller: c,
		expireAt: s.srv.Now().Add(resp.Secret.TTL)}
	l.secret = stored(resp.Secret, l.id)
	s.leases = append(s.leases, l)
	pw, _ := resp.Data["password"].(string)
	s.secrets[pw] = true
	s.logf("%s by %s -> lease %s on request %d ttl %s", path, c.name, l.id, id, resp.Secret.TTL)
	if want := s.srv.Inspect().Password(account); pw != want {
		s.violate("I4-credential", "%s handed out a password that is not account %d's current one", path, account)
	}
	rs, ok := s.srv.Inspect().Request(id)
	switch {
	case !ok:
		s.violate("I4-credential", "lease on request %d that Password Safe does not know", id)
	case rs.Status != pstest.StatusActive:
		s.violate("I4-credential", "lease on request %d whose status is %s", id, rs.Status)
	case rs.AccountID != account:
		s.violate("I4-credential", "lease for account %d on request %d of account %d", account, id, rs.AccountID)
	case s.foreignR[id]:
		s.violate("I4-foreign", "the mount handed out request %d that a person made outside Vault", id)
	}
	// A same-caller hand-over may have ended this caller's previous request.
	for _, o := range s.leases {
		if o != l && o.requestID != id && o.account == account && o.live(s.srv.Now()) && !o.endedOK {
			if rs, ok := s.srv.Inspect().Request(o.requestID); ok && rs.Status == pstest.StatusCheckedIn && rs.CheckinReason == "renewed" && o.caller.sameToEngine(c) {
				o.endedOK = true
			}
		}
	}
}

func (s *sim) claim(c *simCaller) {
	if len(s.pending) == 0 {
		return
	}
	i := s.rng.IntN(len(s.pending))
	p := s.pending[i]
	if c == nil {
		c = p.caller
		if s.rng.IntN(5) == 0 {
			c = s.callers[s.rng.IntN(len(s.callers))]
		}
	}
	path := fmt.Sprintf("requests/%d/creds", p.requestID)
	resp, err := s.do(s.req(logical.ReadOperation, path, nil, c))
	if err != nil || resp == nil || resp.Secret == nil {
		s.logf("claim %d by %s (made by %s) -> %s", p.requestID, c.name, p.caller.name, errText(resp, err))
		if rs, ok := s.srv.Inspect().Request(p.requestID); ok && rs.Status != pstest.StatusPending && rs.Status != pstest.StatusActive {
			s.pending = append(s.pending[:i], s.pending[i+1:]...) // ended: nobody can claim it
		}
		return
	}
	mine := -1
	for j, q := range s.pending {
		if q.requestID == p.requestID && q.caller == c {
			mine = j
		}
	}
	if mine < 0 && s.failedOn[c.name+"/"+strconv.Itoa(p.account)] {
		// c's own checkout on the account failed after the engine recorded
		// its pending claim (a crash, a lost answer): the claim is c's.
		s.logf("claim %d by %s: its own failed checkout's pending claim", p.requestID, c.name)
		s.gotLease(resp, c, p.account, path)
		return
	}
	if mine < 0 {
		s.violate("I4-claim", "request %d made by %s was claimed by %s, who holds no pending claim on it", p.requestID, p.caller.name, c.name)
		return
	}
	s.pending = append(s.pending[:mine], s.pending[mine+1:]...)
	s.gotLease(resp, c, p.account, path)
}

func (s *sim) renew() {
	ls := s.liveLeases()
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	r := s.req(logical.RenewOperation, "creds/x", nil, l.caller)
	r.Secret = stored(l.secret, l.id)
	resp, err := s.do(r)
	if err != nil || resp == nil || resp.Secret == nil {
		s.logf("renew %s -> %s", l.id, errText(resp, err))
		return
	}
	now := s.srv.Now()
	l.expireAt = now.Add(resp.Secret.TTL)
	s.logf("renew %s -> ttl %s", l.id, resp.Secret.TTL)
	rs, ok := s.srv.Inspect().Request(l.requestID)
	if !ok || rs.Status != pstest.StatusActive {
		s.faultMu.Lock()
		faulted := s.faulted
		s.faultMu.Unlock()
		if !faulted {
			st := "unknown"
			if ok {
				st = rs.Status
			}
			s.violate("I3-renew", "renew of %s succeeded although its request %d is %s", l.id, l.requestID, st)
		}
	}
}

// revoke is Vault revoking a lease; a failure is retried later, and after
// vaultRevokeTries failures Vault gives up (the lease is irrevocable).
func (s *sim) revoke(l *simLease, why string) {
	r := s.req(logical.RevokeOperation, "creds/x", nil, nil)
	r.Secret = stored(l.secret, l.id)
	resp, err := s.do(r)
	if err != nil || (resp != nil && resp.IsError()) {
		l.revoking = true
		l.revokeTries++
		l.nextRevoke = s.srv.Now().Add(time.Duration(1<<min(l.revokeTries, 6)) * 10 * time.Second)
		if l.revokeTries >= vaultRevokeTries {
			l.irrevocable = true
		}
		s.logf("%s %s (request %d) failed (try %d, irrevocable=%v): %s", why, l.id, l.requestID, l.revokeTries, l.irrevocable, errText(resp, err))
		return
	}
	s.logf("%s %s (request %d) ok", why, l.id, l.requestID)
	s.dropLease(l)
}

// vaultRevokeTries is how often Vault's expiration manager tries a revoke
// before it marks the lease irrevocable.
const vaultRevokeTries = 6

func (s *sim) dropLease(l *simLease) {
	for i, o := range s.leases {
		if o == l {
			s.leases = append(s.leases[:i], s.leases[i+1:]...)
			return
		}
	}
}

// vaultTick is Vault's expiration manager: expired leases are revoked,
// failed revokes retried.
func (s *sim) vaultTick() {
	now := s.srv.Now()
	for _, l := range append([]*simLease(nil), s.leases...) {
		switch {
		case l.irrevocable:
		case l.revoking && !now.Before(l.nextRevoke):
			s.revoke(l, "revoke retry")
		case !l.revoking && !now.Before(l.expireAt):
			s.revoke(l, "expiry")
		}
	}
}

func (s *sim) mountRequests(status string) []pstest.RequestState {
	var out []pstest.RequestState
	for _, r := range s.srv.Inspect().Requests() {
		if !s.foreignR[r.ID] && strings.EqualFold(r.UserName, pstest.DemoUserSvcVault) && (status == "" || r.Status == status) {
			out = append(out, r)
		}
	}
	return out
}

func (s *sim) approveOrDeny(approve bool) {
	reqs := s.mountRequests(pstest.StatusPending)
	if len(reqs) == 0 {
		return
	}
	r := reqs[s.rng.IntN(len(reqs))]
	var err error
	if approve {
		err = s.approver.Approve(context.Background(), r.ID, "sim approver")
	} else {
		err = s.approver.Deny(context.Background(), r.ID, "sim approver")
	}
	s.logf("approver: approve=%v request %d -> %v", approve, r.ID, err)
}

func (s *sim) operatorCheckin() {
	ls := s.liveLeases()
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	resp, err := s.do(s.req(logical.UpdateOperation, fmt.Sprintf("requests/%d/checkin", l.requestID),
		map[string]interface{}{"reason": "sim operator"}, s.callers[0]))
	s.logf("operator check-in of request %d through the mount -> %s", l.requestID, errText(resp, err))
	s.markEnded(l.requestID)
}

// markEnded: the leases on id may outlive it (the contract allows an
// operator or a person to end a request under a live lease).
func (s *sim) markEnded(id int) {
	if rs, ok := s.srv.Inspect().Request(id); ok && rs.Status != pstest.StatusActive {
		for _, o := range s.leases {
			if o.requestID == id {
				o.endedOK = true
			}
		}
	}
}

func (s *sim) outsideCheckin() {
	ls := s.liveLeases()
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	err := s.foreign.Checkin(context.Background(), l.requestID, "foreign")
	s.logf("a person checks request %d in inside Password Safe -> %v", l.requestID, err)
	s.markEnded(l.requestID)
}

func (s *sim) foreignRequest() {
	acct := foreignAccounts[s.rng.IntN(len(foreignAccounts))]
	sys := 1
	if acct == 31 {
		sys = 3
	}
	id, created, err := s.foreign.CreateRequest(context.Background(), client.RequestInput{
		SystemID: sys, AccountID: acct, AccessType: client.AccessView, DurationMinutes: 60, Reason: "foreign",
	})
	if err == nil && created {
		s.foreignR[id] = true
	}
	s.logf("a person requests account %d outside Vault -> %d %v", acct, id, err)
}

func (s *sim) foreignCheckin() {
	var ids []int
	for id := range s.foreignR {
		if rs, ok := s.srv.Inspect().Request(id); ok && rs.Status == pstest.StatusActive {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Ints(ids)
	id := ids[s.rng.IntN(len(ids))]
	err := s.foreign.Checkin(context.Background(), id, "foreign")
	s.logf("the person checks in request %d -> %v", id, err)
}

func (s *sim) advance(d time.Duration) {
	s.srv.Advance(d)
	s.logf("clock +%s", d)
	s.markExpired()
}

// markExpired: approved pending requests that expired are no longer claimable.
func (s *sim) markExpired() {
	kept := s.pending[:0]
	for _, p := range s.pending {
		if rs, ok := s.srv.Inspect().Request(p.requestID); ok && (rs.Status == pstest.StatusPending || rs.Status == pstest.StatusActive) {
			kept = append(kept, p)
		}
	}
	s.pending = kept
}

func (s *sim) rollback(immediate bool) {
	data := map[string]interface{}{}
	if immediate {
		data["immediate"] = true
	}
	r := &logical.Request{Operation: logical.RollbackOperation, Storage: crashStorage{s.store, s.cp}, Data: data}
	resp, err := s.do(r)
	s.logf("rollback (immediate=%v) -> %s", immediate, errText(resp, err))
}

// settle is a quiet period: the faults stop, the config is put right,
// approvers approve what waits, and Vault and the engine get time to finish
// their recovery work. Afterwards every request of the mount must be held
// by a live lease or a claimable pending request, or have ended (I1).
func (s *sim) settle() {
	s.stats.settles.Add(1)
	s.faultMu.Lock()
	rate := s.faultRate
	s.outage, s.faultRate = 0, 0
	s.faultMu.Unlock()
	if s.badURL || s.noConfig {
		if s.writeConfig(s.srv.URL) {
			s.badURL, s.noConfig = false, false
		}
	}
	s.logf("settle")
	// Rounds of a minute, and once a jump past the engine's claim window
	// for approved requests nobody collects (a caller whose answer was lost
	// to a crash never learns of its pending request).
	for round := 0; round < 14 && s.fail == ""; round++ {
		for _, r := range s.mountRequests(pstest.StatusPending) {
			held := false
			for _, p := range s.pending {
				held = held || p.requestID == r.ID
			}
			if !held {
				_ = s.approver.Approve(context.Background(), r.ID, "sim settle")
			}
		}
		step := time.Minute
		if round == 7 {
			step = time.Hour + time.Minute
		}
		s.srv.Advance(step)
		s.markExpired()
		s.rollback(true)
		s.vaultTick()
		s.check()
	}
	s.faultMu.Lock()
	s.faultRate = rate
	s.faultMu.Unlock()
	if s.fail != "" {
		return
	}
	now := s.srv.Now()
	for _, r := range s.mountRequests("") {
		if r.Status != pstest.StatusActive && r.Status != pstest.StatusPending {
			continue
		}
		held := false
		for _, l := range s.leases {
			held = held || (l.requestID == r.ID && l.live(now))
		}
		for _, p := range s.pending {
			held = held || p.requestID == r.ID
		}
		if !held {
			why, class := "", "I1-leak"
			for _, l := range s.leases {
				if l.requestID == r.ID && l.irrevocable {
					why, class = " (Vault gave up revoking lease "+l.id+")", "I1-leak-irrevocable"
				}
			}
			s.violate(class, "request %d (account %d, reason %q, approvers %v) is %s with no live lease and no claimable pending holder after settling%s",
				r.ID, r.AccountID, r.Reason, r.Approvers, r.Status, why)
			return
		}
	}
}

// check verifies I2 and I3 after every step.
func (s *sim) check() {
	s.stats.checks.Add(1)
	if s.fail != "" {
		return
	}
	now := s.srv.Now()
	for id := range s.foreignR {
		rs, ok := s.srv.Inspect().Request(id)
		if ok && rs.Status == pstest.StatusCheckedIn && rs.CheckinReason != "foreign" {
			s.violate("I2-foreign", "the mount ended request %d that a person made outside Vault (reason %q)", id, rs.CheckinReason)
			return
		}
	}
	for _, l := range s.leases {
		if !l.live(now) || l.endedOK {
			continue
		}
		rs, ok := s.srv.Inspect().Request(l.requestID)
		if !ok {
			s.violate("I2-forgot", "live lease %s on request %d that Password Safe forgot", l.id, l.requestID)
			return
		}
		switch rs.Status {
		case pstest.StatusActive:
			if l.expireAt.After(rs.ExpiresAt.Add(time.Second)) {
				s.violate("I3-expiry", "lease %s ends at %s, after its request %d (%s)", l.id, l.expireAt.Format(time.RFC3339), l.requestID, rs.ExpiresAt.Format(time.RFC3339))
				return
			}
		case pstest.StatusCheckedIn:
			if rs.CheckinReason == "renewed" && s.lastOp == "checkout" && l.caller.sameToEngine(s.lastBy) {
				l.endedOK = true // the same caller's hand-over
				continue
			}
			s.violate("I2-held", "request %d was checked in (%q) while lease %s of %s holds it", l.requestID, rs.CheckinReason, l.id, l.caller.name)
			return
		default:
			s.violate("I3-ended", "live lease %s (ends %s) on request %d which is %s", l.id, l.expireAt.Format(time.RFC3339), l.requestID, rs.Status)
			return
		}
	}
}

// checkLogs: no credential the seed saw appears in the engine's log.
func (s *sim) checkLogs() {
	logs := s.logs.String()
	for pw := range s.secrets {
		if pw != "" && strings.Contains(logs, pw) {
			s.violate("log", "a credential handed out appears in the engine's log")
		}
	}
	for _, sec := range []string{pstest.DemoAPIKey, pstest.DemoPasswordSvcVault} {
		if strings.Contains(logs, sec) {
			s.violate("log", "the API key or the service account's password appears in the engine's log")
		}
	}
}
