package backend_test

import (
	"context"
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
// crashes of the plugin at any storage write or upstream call). Half the
// seeds run against a server that writes zone-less local dates in some
// other zone.
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
	// lookupFails: after a POST Requests whose answer was lost, the next
	// GET Requests calls of the operation fail, every retry of them, so a
	// reuse POST retried and handed back its own request (200) meets a
	// failed look-up; independent faults at the fault rate almost never
	// line up like that. lookupRng adds such lost answers at the fault
	// rate. It is drawn apart from rng and faultRng, so every seed still
	// makes the same operations and draws the same other faults.
	lookupRng   *rand.Rand
	lookupFails int

	// zoneless: the server writes dates without a zone (and changes its
	// offset once, as daylight saving does).
	zoneless bool

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
		rng:       rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
		faultRng:  rand.New(rand.NewPCG(uint64(seed), 0xfa17)),
		lookupRng: rand.New(rand.NewPCG(uint64(seed), 0x100c)),
		foreignR:  map[int]bool{},
		secrets:   map[string]bool{},
		failedOn:  map[string]bool{},
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
	// Half the seeds play a server that writes its local time without a
	// zone, at any quarter-hour offset within ±14h (WAL rollback must still
	// find its requests). Drawn apart from s.rng: seeds replay as before.
	if zr := rand.New(rand.NewPCG(uint64(s.seed), 0x20e)); zr.IntN(2) == 0 {
		zone := time.Duration(zr.IntN(113)-56) * 15 * time.Minute
		s.srv.Edit().SetZonelessDates(true, zone)
		s.zoneless = true
		// A daylight saving change within the first hours, either way:
		// the offset the engine learned goes stale, and requests made
		// before it and ending after carry both offsets.
		shift := time.Hour
		if zr.IntN(2) == 0 {
			shift = -shift
		}
		if after := zone + shift; after < -14*time.Hour || after > 14*time.Hour {
			shift = -shift
		}
		at := s.srv.Now().Add(time.Duration(zr.IntN(240)) * time.Minute)
		s.srv.Edit().SetZoneChange(at, zone+shift)
		s.logf("dates without a zone, local time at UTC%+.2fh, UTC%+.2fh from %s", zone.Hours(), (zone + shift).Hours(), at.Format(time.RFC3339))
	}
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
	f := s.drawFault()
	switch endpoint {
	case pstest.EndpointListRequests:
		if s.lookupFails > 0 {
			s.lookupFails--
			if f == nil {
				s.faulted = true
				s.stats.faults.Add(1)
			}
			// A 503 whatever was drawn: a 401 would be repeated after a
			// sign-in, and the look-up must fail every attempt.
			f = &pstest.Fault{Status: http.StatusServiceUnavailable}
		}
	case pstest.EndpointCreateRequest, pstest.EndpointCreateAliasRequest:
		if f == nil && s.faultRate > 0 && s.lookupRng.Float64() < s.faultRate {
			// The compound fault on its own, as often as any other.
			s.faulted = true
			s.stats.faults.Add(1)
			f = &pstest.Fault{Drop: true, AfterHandler: true}
		}
		if f != nil && f.AfterHandler {
			s.lookupFails = s.maxRetries + 1
		}
	}
	return f
}

// drawFault is the fault of one call from faultRng (see fault).
func (s *sim) drawFault() *pstest.Fault {
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
