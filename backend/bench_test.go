package backend_test

import (
	"context"
	"io"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// BenchmarkLeaseLife compares a whole lease life through the backend (creds
// read + revoke via HandleRequest: POST Requests, GET Credentials, Checkin,
// plus the engine's storage and bookkeeping) with the same three calls made
// directly with the client, against one simulator in one run.
//
//	go test -run x -bench LeaseLife -count 6 ./backend/
//
// Besides ns/op it reports cpu-ns/op: the process's CPU time (user+system,
// simulator included, the same for both) per lease. On a shared machine
// wall time swings with other load; CPU time is the steadier comparison.
func BenchmarkLeaseLife(b *testing.B) {
	te := newTestBackend(b)
	te.b.Backend.Setup(context.Background(), &logical.BackendConfig{ //nolint:errcheck // same config, quieter logger
		Logger:       hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Info}),
		System:       te.sys,
		StorageView:  te.s,
		EventsSender: te.events,
	})
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "24h"})
	ctx := context.Background()

	b.Run("backend", func(b *testing.B) {
		read := &logical.Request{Operation: logical.ReadOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount, ClientTokenAccessor: "bench-accessor"}
		b.ReportAllocs()
		defer reportCPU(b)()
		p50 := newP50(b)
		defer p50.report()
		for i := 0; i < b.N; i++ {
			p50.start()
			resp, err := te.b.HandleRequest(ctx, read)
			if err != nil || resp == nil || resp.Secret == nil {
				b.Fatalf("creds: %v %v", resp, err)
			}
			resp.Secret.LeaseID = "passwordsafe/creds/pg/bench"
			if _, err := te.b.HandleRequest(ctx, &logical.Request{
				Operation: logical.RevokeOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount, Secret: resp.Secret,
			}); err != nil {
				b.Fatalf("revoke: %v", err)
			}
			p50.stop()
		}
	})

	b.Run("client", func(b *testing.B) {
		cl, err := client.New(client.Config{BaseURL: te.srv.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
		if err != nil {
			b.Fatal(err)
		}
		defer cl.SignOut(ctx) //nolint:errcheck
		rotate := true
		in := client.RequestInput{
			AccessType: client.AccessView, SystemID: 1, AccountID: 11, DurationMinutes: 1440,
			Reason: "vault: passwordsafe/creds/pg", RotateOnCheckin: &rotate,
		}
		b.ReportAllocs()
		defer reportCPU(b)()
		p50 := newP50(b)
		defer p50.report()
		for i := 0; i < b.N; i++ {
			p50.start()
			id, _, err := cl.CreateRequest(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := cl.Credential(ctx, id, client.CredentialPassword); err != nil {
				b.Fatal(err)
			}
			if err := cl.Checkin(ctx, id, "vault lease revoked: passwordsafe/creds/pg/bench"); err != nil {
				b.Fatal(err)
			}
			p50.stop()
		}
	})
}

// reportCPU starts measuring process CPU time; the returned func reports it
// per op as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	b.ResetTimer()
	return func() {
		b.StopTimer()
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// p50 records each op's duration and reports the median as p50-us (the
// mean, ns/op, is swayed by GC pauses and other load).
type p50 struct {
	b  *testing.B
	t0 time.Time
	d  []time.Duration
}

func newP50(b *testing.B) *p50 { return &p50{b: b, d: make([]time.Duration, 0, b.N)} }

func (p *p50) start() { p.t0 = time.Now() }
func (p *p50) stop()  { p.d = append(p.d, time.Since(p.t0)) }

func (p *p50) report() {
	if len(p.d) == 0 {
		return
	}
	sort.Slice(p.d, func(i, j int) bool { return p.d[i] < p.d[j] })
	p.b.ReportMetric(float64(p.d[len(p.d)/2].Nanoseconds())/1e3, "p50-us")
}

// BenchmarkReuseHolders: one checkout and one revoke of a conflict_option=
// reuse role whose request already has n holders, against the simulator.
// Besides ns/op it reports the storage work per checkout+revoke, which must
// not grow with n (each holder has a key of its own):
//
//	go test -run x -bench ReuseHolders ./backend/
func BenchmarkReuseHolders(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run("holders="+strconv.Itoa(n), func(b *testing.B) {
			cs := &countingStorage{Storage: &logical.InmemStorage{}}
			te := newTestBackend(b, withStorage(cs))
			te.b.Backend.Setup(context.Background(), &logical.BackendConfig{ //nolint:errcheck // same config, quieter logger
				Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Info}), System: te.sys,
				StorageView: te.s, EventsSender: te.events,
			})
			te.writeRole("shared", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
				"conflict_option": "reuse", "ttl": "1h", "max_ttl": "24h"})
			held := make([]*logical.Response, 0, n)
			for i := 0; i < n; i++ {
				held = append(held, te.mustCreds("shared", nil))
			}
			cs.reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				te.mustRevoke(te.mustCreds("shared", nil))
			}
			b.StopTimer()
			b.ReportMetric(float64(cs.ops())/float64(b.N), "storage-ops/op")
			b.ReportMetric(float64(cs.bytes.Load())/float64(b.N), "storage-bytes/op")
			for _, r := range held {
				te.mustRevoke(r)
			}
		})
	}
}
