package client_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func TestMetrics(t *testing.T) {
	s := newSim(t)
	m := client.NewMetrics()
	cfg := keyConfig(s, "")
	cfg.Metrics = m
	c := newClient(t, cfg)
	// A second client sharing the metrics adds to the same counters.
	cfg2 := keyConfig(s, pstest.DemoUserAlice)
	cfg2.Metrics = m
	c2 := newClient(t, cfg2)
	ctx := ctxT(t)

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Aliases(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := c2.Aliases(ctx); err != nil {
		t.Fatal(err)
	}
	// One 503 retried to success, then a 404 and a 503 that stays.
	s.Faults().Inject(pstest.Fault{Endpoint: epListRequests, Status: 503, Count: 1})
	if _, err := c.ListRequests(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Alias(ctx, 99); !client.IsNotFound(err) {
		t.Fatal(err)
	}
	s.Faults().Inject(pstest.Fault{Endpoint: epCheckin, Status: 503})
	if err := c.Checkin(ctx, 4242, ""); err == nil {
		t.Fatal("check-in against a failing server worked")
	}
	s.Faults().Clear()

	snap := m.Snapshot()
	by := map[string]client.EndpointStats{}
	for _, e := range snap.Endpoints {
		by[e.Endpoint] = e
	}
	if e := by[epAliases]; e.Calls != 9 || e.Failed != 0 || e.P50 <= 0 || e.P99 < e.P50 || e.Max < e.P99 || e.Mean <= 0 {
		t.Errorf("GET Aliases: %+v", e)
	}
	if e := by[epSignAppin]; e.Calls != 2 {
		t.Errorf("sign-ins: %+v", e)
	}
	if e := by[epListRequests]; e.Calls != 1 || e.Failed != 0 || e.Retries != 1 {
		t.Errorf("GET Requests (one retry): %+v", e)
	}
	if e := by[epAlias]; e.Calls != 1 || e.Failed != 1 || e.HTTP4xx != 1 || e.LastError == "" || e.LastErrorAt.IsZero() {
		t.Errorf("GET Aliases/{id} (404): %+v", e)
	}
	if e := by[epCheckin]; e.Calls != 1 || e.HTTP5xx != 1 || e.Retries != 3 || !strings.Contains(e.LastError, "503") {
		t.Errorf("check-in (503 after 3 retries): %+v", e)
	}
	if strings.Contains(by[epCheckin].LastError, pstest.DemoAPIKey) {
		t.Errorf("a last error carries the API key")
	}
	if _, ok := by[epCredentials]; ok {
		t.Errorf("an endpoint never called is listed")
	}
	tot := snap.Total
	if tot.Calls != 9+2+1+1+1 || tot.Failed != 2 || tot.HTTP4xx != 1 || tot.HTTP5xx != 1 || tot.Retries != 4 || tot.P50 <= 0 {
		t.Errorf("total: %+v", tot)
	}
	if snap.Since.IsZero() || time.Since(snap.Since) > time.Minute {
		t.Errorf("since %v", snap.Since)
	}
	// Without metrics, nothing is recorded and nothing breaks.
	if _, err := newClient(t, keyConfig(s, "")).Aliases(ctx); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkMetricsRecord(b *testing.B) {
	m := client.NewMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			client.RecordForTest(m, "POST Requests", 3*time.Millisecond)
		}
	})
}
