//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
)

// LAT_N=200 go test -tags e2e -run '^$' -bench UpstreamLatency -benchtime 1x ./e2e/
//
// Checkout latency through Vault with the simulator adding each latency of
// STORM_LATENCIES_MS (20 and 100 ms) to every API call: LAT_N creds reads,
// each on a role of its own (a distinct account, so no read waits for a
// revoke; the leases are revoked after each round, outside the timing),
// paired op by op with a floor read. The minimum a checkout can take is the
// upstream calls it makes (counted by the simulator: POST Requests and GET
// Credentials) × the latency, plus the floor read; p50 and p99 are each
// compared with their minimum. The floor's book path rides along with the
// latency as its wait (the engine's storage and SystemView round trips,
// with two sleeps of the latency for the upstream calls). The same two calls made directly with the
// client ride along (accounts of their own, checked in outside the timing):
// what the upstream calls really take here, the simulator's timers and the
// scheduler included.
func BenchmarkUpstreamLatency(b *testing.B) {
	n := load.Size("LAT_N", 200)
	lats := stormLatencies(b)
	// Accounts: n per round for the engine's roles, one to warm up, n for
	// the client.
	roles := n*len(lats) + 1
	sim, v, h := benchSetup(b, "bench-latency", benchWorld(roles+n))
	writeBenchRoles(b, h, roles, 16)
	ctx := context.Background()
	cl, err := client.New(client.Config{BaseURL: sim.APIURL, APIKey: pstest.DemoAPIKey, RunAs: pstest.DemoUserSvcVault})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.SignOut(ctx) //nolint:errcheck
	rotate := true
	var clientReqs []int
	viaClient := func(i int) error {
		sys, acct := benchAccount(roles + i)
		id, _, err := cl.CreateRequest(ctx, client.RequestInput{AccessType: client.AccessView, SystemID: sys, AccountID: acct,
			DurationMinutes: 240, Reason: "bench", RotateOnCheckin: &rotate})
		if err != nil {
			return err
		}
		clientReqs = append(clientReqs, id)
		_, err = cl.Credential(ctx, id, client.CredentialPassword)
		return err
	}
	// Warm: the plugin is up and signed in, connections open.
	for i := 0; i < 10; i++ {
		id, err := h.creds(fmt.Sprintf("bench-%05d", roles-1))
		if err == nil {
			err = h.revoke(id)
		}
		if err == nil {
			id, err = h.floorCreds("warm")
		}
		if err == nil {
			err = h.revoke(id)
		}
		if err == nil {
			err = viaClient(0)
		}
		if err == nil {
			err = cl.Checkin(ctx, clientReqs[0], "bench")
			clientReqs = nil
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for round, lat := range lats {
		sim.Faults().Inject(pstest.Fault{Latency: lat})
		calls0, mean0 := upstreamTotals(b, h)
		vd, fd, bd, cd := &load.Recorder{}, &load.Recorder{}, &load.Recorder{}, &load.Recorder{}
		var calls map[string]int
		var floorLeases []string
		wait := profile(b, v, fmt.Sprintf("latency-%dms", lat.Milliseconds()), time.Duration(n)*2*lat)
		for i := 0; i < n; i++ {
			role := fmt.Sprintf("bench-%05d", round*n+i)
			viaVault := func() error { _, err := h.creds(role); return err }
			viaFloor := func() error {
				id, err := h.floorCreds("lat")
				floorLeases = append(floorLeases, id)
				return err
			}
			viaBook := func() error {
				id, err := h.floorBookWait(fmt.Sprintf("lat%d", i), lat)
				floorLeases = append(floorLeases, id)
				return err
			}
			ops := []struct {
				r *load.Recorder
				f func() error
			}{{vd, viaVault}, {fd, viaFloor}, {bd, viaBook}, {cd, func() error { return viaClient(i) }}}
			// Rotate the order so no path always runs first.
			for k := range ops {
				op := ops[(i+k)%len(ops)]
				if op.r == vd {
					sim.Inspect().ResetCalls()
				}
				if err := op.r.Time(op.f); err != nil {
					b.Fatal(err)
				}
				if op.r == vd {
					calls = addCalls(calls, sim.Inspect().CallCounts())
				}
			}
		}
		wait()
		sim.Faults().Clear()
		// What an upstream call took inside the plugin, on average over the
		// round (the status path's counters are since start).
		calls1, mean1 := upstreamTotals(b, h)
		inPlugin := 0.0
		if calls1 > calls0 {
			inPlugin = (mean1*float64(calls1) - mean0*float64(calls0)) / float64(calls1-calls0) * 1000
		}
		perCheckout := 0.0
		for _, c := range calls {
			perCheckout += float64(c)
		}
		perCheckout /= float64(n)
		vl, fl, bl, cll := vd.Latencies(), fd.Latencies(), bd.Latencies(), cd.Latencies()
		upstream := time.Duration(perCheckout * float64(lat))
		min50, min99 := upstream+fl.Pct(0.5), upstream+fl.Pct(0.99)
		r50, r99 := float64(vl.Pct(0.5))/float64(min50), float64(vl.Pct(0.99))/float64(min99)
		ms := lat.Milliseconds()
		b.ReportMetric(r50, fmt.Sprintf("lat%dms-p50-ratio", ms))
		b.ReportMetric(r99, fmt.Sprintf("lat%dms-p99-ratio", ms))
		fmt.Printf("LATENCY latency_ms=%d n=%d calls_per_checkout=%.3f vault_p50_us=%.0f vault_p99_us=%.0f floor_p50_us=%.0f floor_p99_us=%.0f "+
			"book_p50_us=%.0f book_p99_us=%.0f client_p50_us=%.0f client_p99_us=%.0f plugin_upstream_mean_us=%.0f min_p50_us=%.0f min_p99_us=%.0f ratio_p50=%.3f ratio_p99=%.3f calls=%v\n",
			ms, n, perCheckout, load.Micros(vl.Pct(0.5)), load.Micros(vl.Pct(0.99)), load.Micros(fl.Pct(0.5)), load.Micros(fl.Pct(0.99)),
			load.Micros(bl.Pct(0.5)), load.Micros(bl.Pct(0.99)), load.Micros(cll.Pct(0.5)), load.Micros(cll.Pct(0.99)), inPlugin, load.Micros(min50), load.Micros(min99), r50, r99, calls)
		// Outside the timing: every lease of the round goes.
		b.StopTimer()
		for _, id := range clientReqs {
			if err := cl.Checkin(ctx, id, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		clientReqs = nil
		for _, id := range floorLeases {
			if err := h.revoke(id); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := v.cli("lease", "revoke", "-prefix", mount+"/creds/"); err != nil {
			b.Fatal(err)
		}
		eventually(b, 5*time.Minute, "every request checked in", func() (bool, string) {
			n := len(sim.Inspect().ActiveRequests())
			return n == 0, fmt.Sprintf("%d active", n)
		})
		b.StartTimer()
	}
}

// addCalls adds the call counts of b to a.
func addCalls(a, b map[string]int) map[string]int {
	if a == nil {
		a = map[string]int{}
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

// upstreamTotals is the engine's count of upstream calls since start and
// their mean duration in ms (status path).
func upstreamTotals(tb testing.TB, h *vaultHTTP) (int, float64) {
	tb.Helper()
	var a vaultAnswer
	if err := h.call("GET", mount+"/status", nil, &a); err != nil {
		tb.Fatal(err)
	}
	up, _ := a.Data["upstream"].(map[string]any)
	tot, _ := up["total"].(map[string]any)
	calls, _ := tot["calls"].(float64)
	mean, _ := tot["mean_ms"].(float64)
	return int(calls), mean
}
