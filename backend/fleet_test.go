package backend_test

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
)

// Agent fleets at the backend level: many callers (each its own token, as
// Vault Agents are) holding one conflict_option=reuse request. What a
// checkout, a renew and a revoke cost in storage must not depend on how
// many others hold the request: a fleet of 10,000 agents would otherwise
// make every one of their reads and revokes slower and bigger (a record
// holding every holder was rewritten whole on each, 380 KB at 2,000).
// scripts/bench.sh runs this with FLEET_HOLDERS=10000 and reads the
// FLEET-STORAGE lines; plain `go test` stops at 1,000 holders, which keeps
// it a fast regression test of the same property.

// opCounts is the storage (and upstream) work of one kind of operation.
type opCounts struct {
	gets, puts, deletes, lists, bytesWritten, bytesRead, upstream int64
}

func (c opCounts) ops() int64 { return c.gets + c.puts + c.deletes + c.lists }

func (c opCounts) minus(o opCounts) opCounts {
	return opCounts{c.gets - o.gets, c.puts - o.puts, c.deletes - o.deletes, c.lists - o.lists,
		c.bytesWritten - o.bytesWritten, c.bytesRead - o.bytesRead, c.upstream - o.upstream}
}

func (c opCounts) plus(o opCounts) opCounts {
	return opCounts{c.gets + o.gets, c.puts + o.puts, c.deletes + o.deletes, c.lists + o.lists,
		c.bytesWritten + o.bytesWritten, c.bytesRead + o.bytesRead, c.upstream + o.upstream}
}

// fleetStorage counts every storage operation and the bytes of keys and
// values that cross it in both directions: a read of a growing entry costs
// as much as a write of it, so bytes read matter as much as bytes written.
type fleetStorage struct {
	logical.Storage
	gets, puts, deletes, lists, written, read atomic.Int64
}

func (c *fleetStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	c.gets.Add(1)
	e, err := c.Storage.Get(ctx, k)
	if e != nil {
		c.read.Add(int64(len(e.Key) + len(e.Value)))
	}
	return e, err
}

func (c *fleetStorage) List(ctx context.Context, p string) ([]string, error) {
	c.lists.Add(1)
	keys, err := c.Storage.List(ctx, p)
	for _, k := range keys {
		c.read.Add(int64(len(k)))
	}
	return keys, err
}

func (c *fleetStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.puts.Add(1)
	c.written.Add(int64(len(e.Key) + len(e.Value)))
	return c.Storage.Put(ctx, e)
}

func (c *fleetStorage) Delete(ctx context.Context, k string) error {
	c.deletes.Add(1)
	c.written.Add(int64(len(k)))
	return c.Storage.Delete(ctx, k)
}

// fleetEnv is a backend whose storage and upstream calls are counted.
type fleetEnv struct {
	*testEnv
	cs *fleetStorage
}

func (fe *fleetEnv) counts() opCounts {
	var calls int64
	for ep, n := range fe.srv.Inspect().CallCounts() {
		if ep != pstest.EndpointSignAppin {
			calls += int64(n)
		}
	}
	cs := fe.cs
	return opCounts{cs.gets.Load(), cs.puts.Load(), cs.deletes.Load(), cs.lists.Load(), cs.written.Load(), cs.read.Load(), calls}
}

// agentRead is a creds read by fleet member i: a token of its own (no
// entity), as an Agent with its own auth has.
func (fe *fleetEnv) agentRead(i int) (*logical.Response, error) {
	r := fe.req(logical.ReadOperation, "creds/fleet", nil)
	r.ClientTokenAccessor = fmt.Sprintf("fleet-agent-%05d", i)
	resp, err := fe.do(r)
	if err == nil && (resp == nil || resp.Secret == nil) {
		err = fmt.Errorf("creds/fleet: no lease in %#v", resp)
	}
	fe.remember(resp)
	return resp, err
}

func newFleetEnv(t testing.TB) *fleetEnv {
	cs := &fleetStorage{Storage: &logical.InmemStorage{}}
	te := newTestBackend(t, withStorage(cs), withConfig(map[string]interface{}{"max_concurrent_requests": 16}))
	// Thousands of checkouts: the log would be most of the work (and the
	// end-of-test scan for secrets would read all of it).
	if err := te.b.Backend.Setup(context.Background(), &logical.BackendConfig{
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Info}), System: te.sys,
		StorageView: te.s, EventsSender: te.events,
	}); err != nil {
		t.Fatal(err)
	}
	te.writeRole("fleet", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"conflict_option": "reuse", "ttl": "1h", "max_ttl": "24h"})
	return &fleetEnv{testEnv: te, cs: cs}
}

// fleetSizes is 1, 10, 100, ... up to max.
func fleetSizes(max int) []int {
	var out []int
	for n := 1; n <= max; n *= 10 {
		out = append(out, n)
	}
	if out[len(out)-1] != max {
		out = append(out, max)
	}
	return out
}

// TestFleetStorageFlat: a reuse request held by 1, 10, 100, 1,000 (and with
// FLEET_HOLDERS=10000, 10,000) other agents; at each size one more agent
// reads, renews and revokes, several times over, counting storage Get, Put,
// Delete and List and the bytes moved per operation. The counts must be the
// same at every size and the bytes within 10 % (only the record's holder
// count grows a digit). It counts, never times: the shared machine cannot
// change the figures.
func TestFleetStorageFlat(t *testing.T) {
	max := load.Size("FLEET_HOLDERS", 1000)
	const reps = 5
	fe := newFleetEnv(t)
	ctx := context.Background()
	var held []*logical.Response
	first := 0
	type row struct {
		holders int
		op      map[string]opCounts
	}
	var rows []row
	for _, n := range fleetSizes(max) {
		// Grow the fleet to n holders, 8 agents at a time as a fleet would.
		more := make([]*logical.Response, n-len(held))
		base := len(held)
		if err := load.Run(len(more), 8, func(_, i int) error {
			resp, err := fe.agentRead(base + i)
			more[i] = resp
			return err
		}).Err(); err != nil {
			t.Fatal(err)
		}
		held = append(held, more...)
		if first == 0 {
			first = requestIDOf(held[0])
		}
		if rec := fe.record(first); rec == nil || rec.Count != n {
			t.Fatalf("request %d: record %+v, want %d holders", first, rec, n)
		}
		per := map[string]opCounts{}
		for k := 0; k < reps; k++ {
			// Agent n+k joins, renews and leaves; a renew of an old
			// holder's lease too (its record, its holder key).
			c0 := fe.counts()
			resp, err := fe.agentRead(max + 1 + k)
			if err != nil {
				t.Fatal(err)
			}
			c1 := fe.counts()
			if _, err := fe.renew(resp, time.Hour); err != nil {
				t.Fatal(err)
			}
			c2 := fe.counts()
			if err := fe.revoke(resp); err != nil {
				t.Fatal(err)
			}
			c3 := fe.counts()
			if got := requestIDOf(resp); got != first {
				t.Fatalf("agent read request %d, not the shared %d", got, first)
			}
			per["checkout"] = per["checkout"].plus(c1.minus(c0))
			per["renew"] = per["renew"].plus(c2.minus(c1))
			per["revoke"] = per["revoke"].plus(c3.minus(c2))
		}
		rows = append(rows, row{n, per})
		for _, op := range []string{"checkout", "renew", "revoke"} {
			c := per[op]
			f := func(v int64) float64 { return float64(v) / reps }
			t.Logf("FLEET-STORAGE holders=%d op=%s gets=%.1f puts=%.1f deletes=%.1f lists=%.1f ops=%.1f bytes_written=%.0f bytes_read=%.0f upstream_calls=%.1f",
				n, op, f(c.gets), f(c.puts), f(c.deletes), f(c.lists), f(c.ops()), f(c.bytesWritten), f(c.bytesRead), f(c.upstream))
		}
	}
	// Flat: the largest fleet against the smallest, per operation.
	lo, hi := rows[0], rows[len(rows)-1]
	worst := 0.0
	for _, op := range []string{"checkout", "renew", "revoke"} {
		a, b := lo.op[op], hi.op[op]
		opsRatio := float64(b.ops()) / float64(a.ops())
		bytesRatio := float64(b.bytesWritten+b.bytesRead) / float64(a.bytesWritten+a.bytesRead)
		worst = maxf(worst, opsRatio, bytesRatio)
		t.Logf("FLEET-STORAGE-RATIO op=%s holders=%d vs=%d ops_ratio=%.3f bytes_ratio=%.3f", op, hi.holders, lo.holders, opsRatio, bytesRatio)
		if b.gets != a.gets || b.puts != a.puts || b.deletes != a.deletes || b.lists != a.lists {
			t.Errorf("%s: storage operations grow with holders: %+v at %d holders, %+v at %d", op, a, lo.holders, b, hi.holders)
		}
		if bytesRatio > 1.10 {
			t.Errorf("%s: storage bytes grow with holders: %d at %d holders, %d at %d (ratio %.3f, want <= 1.10)",
				op, a.bytesWritten+a.bytesRead, lo.holders, b.bytesWritten+b.bytesRead, hi.holders, bytesRatio)
		}
		if b.upstream != a.upstream {
			t.Errorf("%s: upstream calls grow with holders: %d at %d holders, %d at %d", op, a.upstream, lo.holders, b.upstream, hi.holders)
		}
	}
	t.Logf("FLEET-STORAGE-SUMMARY holders_max=%d holders_min=%d ratio=%.3f", hi.holders, lo.holders, worst)

	// The fleet leaves: every lease is revoked, the last one checks the
	// shared request in and no storage is left behind.
	if err := load.Run(len(held), 8, func(_, i int) error { return fe.revoke(held[i]) }).Err(); err != nil {
		t.Fatal(err)
	}
	if st := fe.status(first); st != pstest.StatusCheckedIn {
		t.Fatalf("shared request %d is %s after its last lease", first, st)
	}
	var left []string
	for _, p := range []string{RecordPrefix, HolderPrefix, PendingPrefix, QueuePrefix, "wal/"} {
		keys, err := logical.CollectKeysWithPrefix(ctx, fe.s, p)
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, keys...)
	}
	sort.Strings(left)
	if len(left) != 0 {
		t.Fatalf("storage left after the fleet left: %v", left[:min(10, len(left))])
	}
}

func maxf(v float64, vs ...float64) float64 {
	for _, x := range vs {
		if x > v {
			v = x
		}
	}
	return v
}

// TestFleetSuccessor: a fleet's shared request nears its end. An agent that
// reads in its last seconds used to get a lease of a second or two, or an
// error once less than a second was left; it now waits for the request to
// end and gets its successor, a full-length lease on a new request with a
// new password, and the agents after it join the successor without waiting.
// The old leases then revoke without a check-in (the request expired), and
// once the fleet leaves nothing is active. A read far from the end costs
// POST Requests and GET Credentials only: the expiry is on record.
func TestFleetSuccessor(t *testing.T) {
	fe := newFleetEnv(t)
	fe.writeRole("fleet", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
		"conflict_option": "reuse", "ttl": "20s", "max_ttl": "40s"})
	fe.e.SetSuccessorWait(10 * time.Second)
	var slept time.Duration
	fe.e.SetSleep(func(_ context.Context, d time.Duration) error {
		slept += d
		fe.srv.Advance(d)
		return nil
	})
	const agents = 20
	var old []*logical.Response
	for i := 0; i < agents; i++ {
		resp, err := fe.agentRead(i)
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, resp)
	}
	first := requestIDOf(old[0])
	fe.srv.Inspect().ResetCalls()
	if _, err := fe.agentRead(agents); err != nil {
		t.Fatal(err)
	}
	calls := fe.srv.Inspect().CallCounts()
	if calls[pstest.EndpointListRequests] != 0 || calls[pstest.EndpointCreateRequest] != 1 || calls[pstest.EndpointCredentials] != 1 {
		t.Errorf("a fleet read far from the request's end made %v, want POST Requests and GET Credentials only", calls)
	}
	oldPassword := old[0].Data["password"]

	// The request lives a minute (max_ttl rounded up): 5 s before its end.
	fe.srv.Advance(55 * time.Second)
	resp, err := fe.agentRead(agents + 1)
	if err != nil {
		t.Fatalf("a read in the shared request's last seconds: %v", err)
	}
	second := requestIDOf(resp)
	if second == first || fe.status(first) != pstest.StatusExpired {
		t.Fatalf("read request %d (the old one is %d, %s), want its successor", second, first, fe.status(first))
	}
	if slept < 5*time.Second || slept > 6*time.Second {
		t.Errorf("waited %s for a request that ended in 5 s", slept)
	}
	if resp.Data["password"] == oldPassword || resp.Data["password"] != fe.srv.Inspect().Password(11) {
		t.Errorf("the successor's password is not the account's new one")
	}
	if resp.Secret.TTL != 20*time.Second || resp.Secret.MaxTTL != 40*time.Second {
		t.Errorf("lease on the successor: ttl %s max %s, want the role's 20s/40s", resp.Secret.TTL, resp.Secret.MaxTTL)
	}
	slept = 0
	next, err := fe.agentRead(agents + 2)
	if err != nil || requestIDOf(next) != second || slept != 0 {
		t.Fatalf("the next agent: request %d (want %d), waited %s, %v", requestIDOf(next), second, slept, err)
	}

	for _, r := range old {
		fe.mustRevoke(r)
	}
	fe.mustRevoke(resp)
	fe.mustRevoke(next)
	if n := len(fe.srv.Inspect().ActiveRequests()); n != 0 {
		t.Fatalf("%d requests active after the fleet left", n)
	}
}

// TestFleetRenewsShareChecks: an Agent fleet's renews arrive together and
// each asks Password Safe whether the shared request is still open. With
// Password Safe taking 50 ms a call, 100 renews at once share a few GET
// Requests (one under way, the next for every renew that arrived during
// it) and all succeed; a renew after a person checked the request in
// Password Safe still sees the check-in (a shared call never predates the
// renew it answers) and fails.
func TestFleetRenewsShareChecks(t *testing.T) {
	fe := newFleetEnv(t)
	const agents = 100
	held := make([]*logical.Response, agents)
	if err := load.Run(agents, 8, func(_, i int) error {
		resp, err := fe.agentRead(i)
		held[i] = resp
		return err
	}).Err(); err != nil {
		t.Fatal(err)
	}
	fe.srv.Inspect().ResetCalls()
	fe.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointListRequests, Latency: 50 * time.Millisecond})
	if err := load.Run(agents, agents, func(_, i int) error {
		r, err := fe.renew(held[i], time.Hour)
		if err == nil && (r == nil || r.IsError()) {
			err = fmt.Errorf("renew: %v", r)
		}
		return err
	}).Err(); err != nil {
		t.Fatal(err)
	}
	calls := fe.srv.Inspect().Calls(pstest.EndpointListRequests)
	t.Logf("%d concurrent renews made %d GET Requests", agents, calls)
	if calls < 1 || calls > agents/4 {
		t.Errorf("%d concurrent renews made %d GET Requests, want a few", agents, calls)
	}
	fe.srv.Faults().Clear()

	id := requestIDOf(held[0])
	if err := fe.userClient(pstest.DemoUserSvcVault, "").Checkin(context.Background(), id, "by hand"); err != nil {
		t.Fatal(err)
	}
	r, err := fe.renew(held[1], time.Hour)
	fe.mustFail(r, err, 400, "ended in Password Safe")
	for _, h := range held {
		fe.mustRevoke(h)
	}
}
