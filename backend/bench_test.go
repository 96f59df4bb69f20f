package backend_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/internal/load"
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
		r := load.Bench(b, 1, func(_, _ int) error {
			resp, err := te.b.HandleRequest(ctx, read)
			if err != nil || resp == nil || resp.Secret == nil {
				return fmt.Errorf("creds: %v %v", resp, err)
			}
			resp.Secret.LeaseID = "passwordsafe/creds/pg/bench"
			if _, err := te.b.HandleRequest(ctx, &logical.Request{
				Operation: logical.RevokeOperation, Path: "creds/pg", Storage: te.s, MountPoint: testMount, Secret: resp.Secret,
			}); err != nil {
				return fmt.Errorf("revoke: %w", err)
			}
			return nil
		})
		r.Report(b, "", 0.5)
		r.ReportCPU(b)
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
		r := load.Bench(b, 1, func(_, _ int) error {
			id, _, err := cl.CreateRequest(ctx, in)
			if err != nil {
				return err
			}
			if _, err := cl.Credential(ctx, id, client.CredentialPassword); err != nil {
				return err
			}
			return cl.Checkin(ctx, id, "vault lease revoked: passwordsafe/creds/pg/bench")
		})
		r.Report(b, "", 0.5)
		r.ReportCPU(b)
	})
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
