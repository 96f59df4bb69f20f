package backend

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Lease is what a lease of a checked-out credential carries (its internal
// data): the request it holds and how long it may live.
type Lease struct {
	RequestID int
	Holder    string // the holder key in the request's record ("" on leases of old versions)
	RunAs     string
	Role      string
	ExpiresAt time.Time     // the request's expiry (engine clock)
	IssuedAt  time.Time     // engine clock
	MaxTTL    time.Duration // from IssuedAt
	TTL       time.Duration // renew increment (0 = mount default)
}

// Grant is a credential handed out under a lease.
type Grant struct {
	Lease       Lease
	TTL, MaxTTL time.Duration // the lease's first TTL and its max TTL
	Credential  Credential
	Warnings    []string
}

// Credential is what a checkout reads from Password Safe.
type Credential struct {
	RequestID                                 int
	Username, Domain, SystemName, AccountName string
	// SystemID and AccountID: the account an alias request is of, as
	// Password Safe answers it with the credential (zero for a direct one).
	SystemID, AccountID int
	ExpiresAt           time.Time
	Values              map[client.CredentialType]string // the types the role asks for
}

// Renew extends the lease by its TTL (or the requested increment, which
// Vault applies), never past the lease's max TTL and never past the
// request's expiry: a lease never promises time the request does not have.
// A lease whose request has ended cannot be renewed: the engine's record
// says so when the end went through this mount (revoke, an operator's
// check-in, a hand-over), and Password Safe says so otherwise (one GET
// Requests: a check-in by a person in Password Safe; concurrent renews
// through one session share it, see renewcheck.go). When Password Safe
// cannot be asked, the record decides.
//
// It returns the lease's next TTL; increment is what the caller asked for
// (0: the lease's own TTL, then the mount's default).
func (b *Engine) Renew(ctx context.Context, s logical.Storage, li *Lease, increment time.Duration) (time.Duration, error) {
	ended := func(why string) error {
		return logical.CodedError(http.StatusBadRequest, fmt.Sprintf(
			"cannot renew: Password Safe request %d %s; read a new credential", li.RequestID, why))
	}
	lock := b.lockRequest(li.RequestID)
	lock.Lock() // getRecord may migrate an old record: a write
	rec, err := getRecord(ctx, s, li.RequestID)
	var h *holder
	if err == nil && rec != nil && li.Holder != "" {
		h, err = getHolder(ctx, s, li.RequestID, li.Holder)
	}
	lock.Unlock()
	switch {
	case err != nil:
		return 0, err
	case rec == nil || (li.Holder != "" && h == nil):
		return 0, ended("has ended (checked in, or released by this lease)")
	case rec.Ended:
		return 0, ended("was ended early (checked in by an operator, or replaced by a new request)")
	}
	end := li.ExpiresAt
	gen := b.sessions.generation()
	if cl, err := b.Client(ctx, s, li.RunAs); err == nil {
		if r, found, err := b.renewChecks.findShared(ctx, cl, li.RequestID); err == nil {
			if !found {
				b.markEnded(ctx, s, li.RequestID)
				return 0, ended("has ended in Password Safe (checked in there, or expired)")
			}
			// The lease's own expiry, taken at its earliest when it was
			// handed out, never passes the request's: the date can only
			// cut it. So a date without a zone is read at the latest it
			// may stand for (with the server's offset as learned, this
			// lease's own request teaching it when this mount made it; not
			// at all while the offset is unknown): read at its earliest, up
			// to an hour early, it would refuse live leases.
			g := b.observeOne(gen, r, rec.made())
			if r.ExpiresDate != nil {
				if exp := g.latest(r, *r.ExpiresDate, end); exp.Before(end) {
					end = exp
				}
			}
		} else {
			b.Logger().Warn("could not ask Password Safe whether a renewed lease's request is still active; renewing on the engine's record",
				"request_id", li.RequestID, "error", err)
		}
	}
	now := b.now()
	if li.MaxTTL > 0 {
		if e := li.IssuedAt.Add(li.MaxTTL); e.Before(end) {
			end = e
		}
	}
	left := end.Sub(now).Truncate(time.Second)
	if left <= 0 {
		return 0, ended("ends at " + li.ExpiresAt.UTC().Format(time.RFC3339))
	}
	ttl := li.TTL
	if increment > 0 {
		ttl = increment
	}
	if ttl <= 0 {
		ttl = b.System().DefaultLeaseTTL()
	}
	if ttl > left {
		ttl = left
	}
	return ttl, nil
}

// findRequest looks request id up among the run-as user's open requests.
func findRequest(ctx context.Context, cl *client.Client, id int) (client.Request, bool, error) {
	reqs, err := cl.ListRequests(ctx, "all", "")
	if err != nil {
		return client.Request{}, false, err
	}
	r, found := requestIn(reqs, id)
	return r, found, nil
}

// requestIn finds request id in reqs.
func requestIn(reqs []client.Request, id int) (client.Request, bool) {
	for _, r := range reqs {
		if r.RequestID == id {
			return r, true
		}
	}
	return client.Request{}, false
}

// markEnded notes that request id has ended upstream by other means than
// this engine's check-in: its leases cannot be renewed, its pending claims
// are void, and its last holder's revoke needs no check-in. Best effort.
func (b *Engine) markEnded(ctx context.Context, s logical.Storage, id int) (role string) {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	err := s.Delete(ctx, queueKey(id))
	rec, gerr := getRecord(ctx, s, id)
	if err == nil {
		err = gerr
	}
	if err == nil && rec != nil {
		b.Logger().Debug("request ended upstream", "request_id", id)
		role = rec.Role
		rec.Ended = true
		err = b.dropPending(ctx, s, rec)
	}
	if err != nil {
		b.Logger().Warn("could not note that a request has ended", "request_id", id, "error", err)
	}
	return role
}

// dropPending removes the pending holders of an ended request (under its
// lock), and the record when nobody else holds it.
func (b *Engine) dropPending(ctx context.Context, s logical.Storage, rec *record) error {
	hs, err := holdersOf(ctx, s, rec.RequestID)
	if err != nil {
		return err
	}
	if err := putRecord(ctx, s, rec); err != nil {
		return err
	}
	for hid, h := range hs {
		if h.Pending {
			if err := removeHolder(ctx, s, rec, hid); err != nil {
				return err
			}
		}
	}
	if free, err := unheld(ctx, s, rec); err != nil || !free {
		return err
	}
	return deleteRecord(ctx, s, rec.RequestID)
}

// Revoke ends this lease's hold on its request and checks the request in
// when it was the last holder (see release.go). Idempotent and keyed by
// request ID: a second revoke, or a request already ended upstream, is
// done. When Password Safe does not take the check-in, it is queued and
// the revoke succeeds: the engine, not Vault, retries it. name names the
// lease in the check-in's reason.
func (b *Engine) Revoke(ctx context.Context, s logical.Storage, li *Lease, name string) error {
	return b.release(ctx, s, li.RequestID, li.Holder, "vault lease revoked: "+name, releaseOpts{})
}
