package backend

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

func BenchmarkABTmp(b *testing.B) {
	te := quietBackend(b, pstest.DemoWorld(), nil)
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "24h"})
	ctx := context.Background()
	read := &logical.Request{Operation: logical.ReadOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount}
	life := func() {
		resp, err := te.b.HandleRequest(ctx, read)
		if err != nil || resp == nil || resp.Secret == nil {
			b.Fatalf("creds: %v %v", resp, err)
		}
		resp.Secret.LeaseID = "x"
		if _, err := te.b.HandleRequest(ctx, &logical.Request{Operation: logical.RevokeOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount, Secret: resp.Secret}); err != nil {
			b.Fatal(err)
		}
	}
	a, c := &latencies{}, &latencies{}
	for i := 0; i < b.N; i++ {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		for _, v := range order {
			te.b.noOverlap = v
			t0 := time.Now()
			life()
			if v {
				c.d = append(c.d, time.Since(t0))
			} else {
				a.d = append(a.d, time.Since(t0))
			}
		}
	}
	b.ReportMetric(float64(a.pct(0.5).Microseconds()), "overlap-p50")
	b.ReportMetric(float64(c.pct(0.5).Microseconds()), "serial-p50")
}
