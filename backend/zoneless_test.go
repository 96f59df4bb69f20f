package backend_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
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
