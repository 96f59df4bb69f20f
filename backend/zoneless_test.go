package backend_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/paths"
)

// zoneOffsets are server zones a zone-less date may be written in: whole,
// half and quarter hours, both extremes.
var zoneOffsets = []time.Duration{
	-14 * time.Hour, -(9*time.Hour + 30*time.Minute), -3 * time.Hour, 0,
	2 * time.Hour, 5*time.Hour + 45*time.Minute, 12*time.Hour + 45*time.Minute, 14 * time.Hour,
}

// A server that writes its local time without a zone shifts every date by
// its zone's offset. WAL rollback must still find and end the request a
// checkout created when the answer to POST Requests was lost (else it
// leaks until it expires).
func TestRollbackZonelessDates(t *testing.T) {
	for _, off := range zoneOffsets {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
			te.srv.Edit().SetZonelessDates(true, off)
			te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user"})
			te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
			resp, err := te.creds("app", nil)
			te.mustFail(resp, err, 0)
			reqs := te.srv.Inspect().Requests()
			if len(reqs) != 1 || reqs[0].Status != pstest.StatusActive || te.walCount() != 1 {
				t.Fatalf("requests %+v, WAL %d", reqs, te.walCount())
			}
			// The dates really are zone-less and shifted.
			list, err := te.userClient(pstest.DemoUserSvcVault, "").ListRequests(context.Background(), "all", "")
			if err != nil || len(list) != 1 || !list[0].Zoneless ||
				list[0].RequestReleaseDate.Sub(reqs[0].CreatedAt).Round(time.Second) != off {
				t.Fatalf("listed %+v (%v)", list, err)
			}
			if err := te.rollback(true); err != nil {
				t.Fatal(err)
			}
			if st := te.status(reqs[0].ID); st != pstest.StatusCheckedIn || te.walCount() != 0 {
				t.Fatalf("after rollback: request %d %s, WAL %d: the mount's own request leaked", reqs[0].ID, st, te.walCount())
			}
		})
	}
}

// Widening the window for zone-less dates stops at the largest zone
// offset: a request made more than 14 hours after the checkout's POST is
// not its own, even with the checkout's tag copied into its reason (a
// person re-using it while Vault could not reach Password Safe).
func TestRollbackZonelessSparesLaterCopy(t *testing.T) {
	te := newTestBackend(t, withConfig(map[string]interface{}{"max_retries": 0}))
	te.srv.Edit().SetZonelessDates(true, 2*time.Hour)
	te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user", "ttl": "10m", "max_ttl": "10m"})
	te.srv.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Drop: true, AfterHandler: true, Count: 1})
	resp, err := te.creds("app", nil)
	te.mustFail(resp, err, 0)
	own := te.srv.Inspect().Requests()[0]
	tag := own.Reason[strings.LastIndex(own.Reason, "[vault:"):]
	te.srv.Advance(15 * time.Hour) // the checkout's own request expired long ago
	person := te.userClient(pstest.DemoUserSvcVault, "")
	id, created, err := person.CreateRequest(context.Background(), client.RequestInput{
		SystemID: own.SystemID, AccountID: own.AccountID, AccessType: client.AccessView, DurationMinutes: 60,
		Reason: "same as before " + tag})
	if err != nil || !created {
		t.Fatal(err)
	}
	if err := te.rollback(true); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusActive || te.walCount() != 0 {
		t.Fatalf("rollback ended request %d, made 15 hours after the checkout: %s (WAL %d)", id, te.status(id), te.walCount())
	}
	if err := person.Checkin(context.Background(), id, "done"); err != nil {
		t.Fatal(err)
	}
}

// restart replaces the engine with a new one on the same storage, as a
// plugin restart does: nothing it learned in memory survives.
func (te *testEnv) restart() {
	te.t.Helper()
	b := paths.New("v0.1.0", 0)
	logger := hclog.New(&hclog.LoggerOptions{Name: "passwordsafe", Output: te.logs, Level: hclog.Trace})
	if err := b.Setup(context.Background(), &logical.BackendConfig{
		Logger: logger, System: te.sys, StorageView: te.s, EventsSender: te.events,
	}); err != nil {
		te.t.Fatal(err)
	}
	te.t.Cleanup(func() { b.Cleanup(context.Background()) })
	te.b, te.e = b, b.Engine()
	te.e.SetClock(te.srv.Now)
	te.e.SetApprovalPoll(20 * time.Millisecond)
}

// leaseEnd is when a lease handed out now ends at the latest.
func (te *testEnv) leaseEnd(resp *logical.Response) time.Time {
	te.t.Helper()
	if resp == nil || resp.Secret == nil {
		te.t.Fatalf("no lease: %#v", resp)
	}
	return te.srv.Now().Add(resp.Secret.MaxTTL)
}

// mustNotOutlive fails when a lease ends after its request.
func (te *testEnv) mustNotOutlive(resp *logical.Response) {
	te.t.Helper()
	id := requestIDOf(resp)
	rs, ok := te.srv.Inspect().Request(id)
	if !ok {
		te.t.Fatalf("no request %d", id)
	}
	if end := te.leaseEnd(resp); end.After(rs.ExpiresAt) {
		te.t.Fatalf("the lease of request %d ends at %s, %s after the request (%s)",
			id, end.Format(time.RFC3339), end.Sub(rs.ExpiresAt), rs.ExpiresAt.Format(time.RFC3339))
	}
}

// West of UTC a zone-less expiry read as UTC is hours early: renew must
// not refuse a fresh, live lease, before or after a restart (the offset is
// learned again from the request the mount made), and must still never
// promise time past the request's end.
func TestRenewZonelessWest(t *testing.T) {
	te := newTestBackend(t)
	te.srv.Edit().SetZonelessDates(true, -5*time.Hour)
	te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user", "ttl": "10m", "max_ttl": "1h"})
	resp := te.mustCreds("app", nil)
	id := requestIDOf(resp)
	end := te.srv.Now().Add(time.Hour)
	for _, step := range []string{"", "restart", "an hour further west"} {
		switch step {
		case "restart":
			te.restart()
		case "an hour further west":
			// What a daylight saving change does (the simulator writes
			// every date with the new offset): a fresh look re-learns it.
			te.srv.Edit().SetZonelessDates(true, -6*time.Hour)
		}
		te.srv.Advance(5 * time.Minute)
		r, err := te.renew(resp, 0)
		if err != nil || r == nil || r.IsError() || r.Secret == nil || r.Secret.TTL != 10*time.Minute {
			t.Fatalf("%s: renewing a live lease of request %d (%s): %v %#v", step, id, te.status(id), err, r)
		}
	}
	te.srv.Advance(43 * time.Minute) // 2 minutes left
	r, err := te.renew(resp, time.Hour)
	if err != nil || r == nil || r.IsError() || r.Secret == nil || te.srv.Now().Add(r.Secret.TTL).After(end) {
		t.Fatalf("renew near the end: %v %#v (request ends %s)", err, r, end)
	}
	te.mustRevoke(resp)
}

// East of UTC a zone-less expiry read as UTC is hours late: a reused
// request's lease must still end with the request, whether this mount
// made it (the offset is learned from it, also after a restart) or a
// person did (nothing teaches the offset: the earliest it may be).
func TestReuseZonelessEast(t *testing.T) {
	const east = 5*time.Hour + 45*time.Minute
	pg := map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "1h", "conflict_option": "reuse"}
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("made here, restart=%v", restart), func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetZonelessDates(true, east)
			te.writeRole("pg", pg)
			first := te.mustOK(te.credsAs("pg", "entity-1"))
			if restart {
				te.restart()
			}
			te.srv.Advance(30 * time.Minute)
			second := te.mustOK(te.credsAs("pg", "entity-2"))
			if requestIDOf(second) != requestIDOf(first) {
				t.Fatalf("not reused: %d, %d", requestIDOf(first), requestIDOf(second))
			}
			te.mustNotOutlive(second)
			// The offset is known: the lease gets all the request has.
			if second.Secret.MaxTTL != 30*time.Minute {
				t.Fatalf("max TTL %s, want 30m", second.Secret.MaxTTL)
			}
			te.mustRevoke(second)
			te.mustRevoke(first)
		})
	}
	t.Run("made by a person", func(t *testing.T) {
		te := newTestBackend(t)
		te.srv.Edit().SetZonelessDates(true, east)
		te.writeRole("pg", pg)
		person := te.userClient(pstest.DemoUserSvcVault, "")
		id, _, err := person.CreateRequest(context.Background(), client.RequestInput{
			SystemID: 1, AccountID: 11, AccessType: client.AccessView, DurationMinutes: 60, Reason: "by hand"})
		if err != nil {
			t.Fatal(err)
		}
		te.srv.Advance(20 * time.Minute)
		resp := te.mustOK(te.credsAs("pg", "entity-1"))
		if requestIDOf(resp) != id {
			t.Fatalf("not reused: %d, want %d", requestIDOf(resp), id)
		}
		te.mustNotOutlive(resp)
		// Its last lease's revoke checks it in.
		te.mustRevoke(resp)
	})
}

// East of UTC, the expiry of a request approved while the read waited, or
// claimed later, is read from Password Safe: the lease must end with it.
func TestApprovalZonelessEast(t *testing.T) {
	const east = 5*time.Hour + 45*time.Minute
	t.Run("approved during the wait", func(t *testing.T) {
		te := newTestBackend(t)
		te.srv.Edit().SetZonelessDates(true, east)
		te.e.SetApprovalPoll(50 * time.Millisecond)
		te.writeRole("fin", withWait("60s"))
		bob := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob)
		approved := make(chan error, 1)
		go func() {
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				for _, r := range te.srv.Inspect().Requests() {
					if r.AccountID == 31 && r.Status == pstest.StatusPending && te.srv.Inspect().Calls(pstest.EndpointCredentials) >= 1 {
						err := bob.Approve(context.Background(), r.ID, "approved while Vault waits")
						te.srv.Advance(10 * time.Minute) // the lease begins after the request's clock started
						approved <- err
						return
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			approved <- fmt.Errorf("no pending request appeared")
		}()
		resp := te.mustCreds("fin", nil)
		if err := <-approved; err != nil {
			t.Fatal(err)
		}
		te.mustNotOutlive(resp)
		te.mustRevoke(resp)
	})
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("claimed, restart=%v", restart), func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetZonelessDates(true, east)
			te.writeRole("fin", withWait("0s"))
			id := requestIDOf(te.mustOK(te.credsAs("fin", "entity-1")))
			if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, "ok"); err != nil {
				t.Fatal(err)
			}
			if restart {
				te.restart()
			}
			te.srv.Advance(30 * time.Minute)
			lease := te.mustOK(te.claim(id, "entity-1"))
			te.mustNotOutlive(lease)
			if lease.Secret.MaxTTL != 90*time.Minute {
				t.Fatalf("max TTL %s, want 1h30m", lease.Secret.MaxTTL)
			}
			te.mustRevoke(lease)
		})
	}
}

// West of UTC a zone-less approval date read as UTC is hours early: the
// periodic func must not take a just-approved request for one left
// unclaimed past the claim window and check it in under its claimant.
func TestClaimWindowZonelessWest(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetZonelessDates(true, -5*time.Hour)
			te.writeRole("fin", withWait("0s"))
			id := requestIDOf(te.mustOK(te.credsAs("fin", "entity-1")))
			if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, "ok"); err != nil {
				t.Fatal(err)
			}
			if restart {
				te.restart()
			}
			// Short enough that the window, and the hour a daylight saving
			// change may hide in the approval date, end before the request.
			te.e.SetPendingClaimWindow(20 * time.Minute)
			te.srv.Advance(time.Minute)
			if err := te.rollback(false); err != nil {
				t.Fatal(err)
			}
			if te.status(id) != pstest.StatusActive || te.pendingHolders(id) != 1 {
				t.Fatalf("approved a minute ago, yet reconciled: %s, %d pending", te.status(id), te.pendingHolders(id))
			}
			// Within that hour the claimant may still claim it.
			te.srv.Advance(te.e.PendingClaimWindow() + 30*time.Minute)
			if err := te.rollback(false); err != nil {
				t.Fatal(err)
			}
			if te.status(id) != pstest.StatusActive || te.pendingHolders(id) != 1 {
				t.Fatalf("checked in within the hour a daylight saving change may hide: %s, %d pending", te.status(id), te.pendingHolders(id))
			}
			// Unclaimed past both: checked in.
			te.srv.Advance(30 * time.Minute)
			if err := te.rollback(false); err != nil {
				t.Fatal(err)
			}
			if te.status(id) != pstest.StatusCheckedIn || te.record(id) != nil {
				t.Fatalf("unclaimed past the window: %s, record %v", te.status(id), te.record(id))
			}
		})
	}
}

// A learned offset goes stale at a daylight saving change. When clocks go
// forward the server's dates carry an hour more than the mount learned:
// read with the old offset, the expiry of a request the mount did not make
// (which teaches nothing) is an hour late. So is the expiry of a request
// made before the change and ending after it: its release date carries the
// old offset, its expiry the new one. Either way its lease must end with
// the request.
func TestReuseZonelessAfterDSTBegins(t *testing.T) {
	for _, made := range []string{"after the change", "before the change"} {
		t.Run(made, func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetZonelessDates(true, time.Hour) // CET
			te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
				"ttl": "1h", "max_ttl": "3h", "conflict_option": "reuse"})
			te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user",
				"ttl": "1h", "max_ttl": "3h", "conflict_option": "reuse"})
			first := te.mustOK(te.credsAs("pg", "entity-1"))
			te.srv.Advance(time.Minute)
			// A renew reads GET Requests: the mount learns +1h from its own request.
			if r, err := te.renew(first, 0); err != nil || r == nil || r.IsError() {
				t.Fatalf("renew: %v %#v", err, r)
			}
			if made == "after the change" {
				te.srv.Edit().SetZonelessDates(true, 2*time.Hour) // CEST, every date
			} else {
				te.srv.Edit().SetZoneChange(te.srv.Now().Add(30*time.Minute), 2*time.Hour)
			}
			person := te.userClient(pstest.DemoUserSvcVault, "")
			id, _, err := person.CreateRequest(context.Background(), client.RequestInput{
				SystemID: 1, AccountID: 12, AccessType: client.AccessView, DurationMinutes: 60, Reason: "by hand"})
			if err != nil {
				t.Fatal(err)
			}
			te.srv.Advance(20 * time.Minute)
			resp := te.mustOK(te.credsAs("app", "entity-2"))
			if requestIDOf(resp) != id {
				t.Fatalf("not reused: %d, want %d", requestIDOf(resp), id)
			}
			te.mustNotOutlive(resp)
			te.mustRevoke(resp)
			te.mustRevoke(first)
		})
	}
}

// When clocks go back the server's dates carry an hour less than the mount
// learned (from a request newer than the pending one, so the pending
// request's own window cannot correct it): read with the old offset, an
// approval is an hour early, and the periodic func must still not take a
// request approved a minute ago for one left unclaimed past the claim
// window and check it in under its claimant.
func TestClaimWindowZonelessAfterDSTEnds(t *testing.T) {
	te := newTestBackend(t)
	te.srv.Edit().SetZonelessDates(true, 2*time.Hour)
	te.writeRole("fin", withWait("0s"))
	te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres", "ttl": "1h", "max_ttl": "3h"})
	id := requestIDOf(te.mustOK(te.credsAs("fin", "entity-1")))
	te.srv.Advance(time.Minute)
	later := te.mustOK(te.credsAs("pg", "entity-2"))
	te.srv.Advance(time.Minute)
	if r, err := te.renew(later, 0); err != nil || r == nil || r.IsError() { // learns +2h from the later request
		t.Fatalf("renew: %v %#v", err, r)
	}
	te.srv.Edit().SetZonelessDates(true, time.Hour) // daylight saving time ends
	if err := te.userClient(pstest.DemoUserBob, pstest.DemoPasswordBob).Approve(context.Background(), id, "ok"); err != nil {
		t.Fatal(err)
	}
	te.srv.Advance(time.Minute)
	if err := te.rollback(false); err != nil {
		t.Fatal(err)
	}
	if te.status(id) != pstest.StatusActive || te.pendingHolders(id) != 1 {
		t.Fatalf("approved a minute ago, yet checked in under its claimant: %s, %d pending", te.status(id), te.pendingHolders(id))
	}
	lease := te.mustOK(te.claim(id, "entity-1"))
	te.mustNotOutlive(lease)
	te.mustRevoke(lease)
	te.mustRevoke(later)
}

// Vault's clock 8 minutes ahead of Password Safe's: a reused request's
// lease, read from a date with a zone, ends 8 minutes early (the safe
// side). From a date without a zone it must too: the observation that
// teaches the offset is 8 minutes off a quarter hour, and rounded it would
// land on the wrong one, making the lease end 7 minutes after its request.
func TestReuseZonelessClockSkew(t *testing.T) {
	const skew = 8 * time.Minute
	for _, zoneless := range []bool{false, true} {
		t.Run(fmt.Sprintf("zoneless=%v", zoneless), func(t *testing.T) {
			te := newTestBackend(t)
			te.e.SetClock(func() time.Time { return te.srv.Now().Add(skew) })
			te.srv.Edit().SetZonelessDates(zoneless, 2*time.Hour)
			te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
				"ttl": "1h", "max_ttl": "1h", "conflict_option": "reuse"})
			first := te.mustOK(te.credsAs("pg", "entity-1"))
			te.srv.Advance(30 * time.Minute)
			second := te.mustOK(te.credsAs("pg", "entity-2"))
			id := requestIDOf(second)
			if id != requestIDOf(first) {
				t.Fatalf("not reused: %d, %d", requestIDOf(first), id)
			}
			rs, _ := te.srv.Inspect().Request(id)
			// By Vault's clock the request ends at ExpiresAt+skew.
			end, reqEnd := te.srv.Now().Add(skew).Add(second.Secret.MaxTTL), rs.ExpiresAt.Add(skew)
			if end.After(reqEnd) {
				t.Fatalf("the lease of request %d ends %s after it (Vault's clock)", id, end.Sub(reqEnd))
			}
			te.mustRevoke(second)
			te.mustRevoke(first)
		})
	}
}

// A person's request whose expiry, read at the earliest it may stand for,
// has passed cannot be reused: a retryable 503 that says why, not an
// internal error. So while the server's offset is unknown (the earliest
// quarter-hour offset that leaves it after now), and with the offset known
// in the last hour of the request (a daylight saving change may hide that
// hour). Its look-up did read the request's Reason (not the checkout's
// own), so the failed checkout keeps no WAL entry for rollback to look it
// up again.
func TestReuseZonelessMayEndAnyMoment(t *testing.T) {
	for _, offset := range []string{"unknown", "known"} {
		t.Run("offset "+offset, func(t *testing.T) {
			te := newTestBackend(t)
			te.srv.Edit().SetZonelessDates(true, 2*time.Hour)
			te.writeRole("pg", map[string]interface{}{"system_name": "db-prod-01", "account_name": "postgres",
				"ttl": "1h", "max_ttl": "1h", "conflict_option": "reuse"})
			var learn *logical.Response
			if offset == "known" {
				te.writeRole("app", map[string]interface{}{"system_name": "db-prod-01", "account_name": "app_user", "ttl": "1h", "max_ttl": "3h"})
				learn = te.mustOK(te.credsAs("app", "entity-2"))
				if r, err := te.renew(learn, 0); err != nil || r == nil || r.IsError() { // learns +2h
					t.Fatalf("renew: %v %#v", err, r)
				}
			}
			person := te.userClient(pstest.DemoUserSvcVault, "")
			id, _, err := person.CreateRequest(context.Background(), client.RequestInput{
				SystemID: 1, AccountID: 11, AccessType: client.AccessView, DurationMinutes: 60, Reason: "by hand"})
			if err != nil {
				t.Fatal(err)
			}
			// Unknown: 44 minutes left, the earliest quarter-hour reading
			// after now is a minute ago. Known: 30 minutes left.
			te.srv.Advance(map[string]time.Duration{"unknown": 16 * time.Minute, "known": 30 * time.Minute}[offset])
			resp, err := te.credsAs("pg", "entity-1")
			te.mustFail(resp, err, http.StatusServiceUnavailable, fmt.Sprintf("request %d may end at any moment", id), "try again later")
			if te.walCount() != 0 || strings.Contains(te.logs.String(), "could not look up") {
				t.Fatalf("WAL %d after a look-up that succeeded; logs:\n%s", te.walCount(), te.logs.String())
			}
			if te.status(id) != pstest.StatusActive {
				t.Fatalf("the person's request %d was ended: %s", id, te.status(id))
			}
			if err := person.Checkin(context.Background(), id, "done"); err != nil {
				t.Fatal(err)
			}
			if learn != nil {
				te.mustRevoke(learn)
			}
		})
	}
}
