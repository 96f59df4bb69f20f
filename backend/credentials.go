package backend

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// maxApprovalWait caps a role's approval_wait (walRollbackMinAge must stay
// above the longest checkout).
const maxApprovalWait = 10 * time.Minute

// target is what reading a credential needs.
type target struct {
	aliasID                             int
	systemName, accountName, domainName string
	types                               []string
}

func roleTarget(r *Role) target {
	return target{aliasID: r.AliasID, systemName: r.SystemName, accountName: r.AccountName,
		domainName: r.DomainName, types: r.CredentialTypes}
}

func (co *checkout) credentials(ctx context.Context) (*Credential, error) {
	return readCredentials(ctx, co.cl, roleTarget(co.role), co.id)
}

// readCredentials reads each credential type (one call each; for aliases one
// GET Aliases/{id}/Credentials/{rid} per type).
func readCredentials(ctx context.Context, cl *client.Client, t target, id int) (*Credential, error) {
	c := &Credential{
		RequestID: id, Username: t.accountName, Domain: t.domainName,
		SystemName: t.systemName, AccountName: t.accountName,
		Values: make(map[client.CredentialType]string, len(t.types)),
	}
	for _, typ := range t.types {
		ct := client.CredentialType(typ)
		var v string
		if t.aliasID != 0 {
			ac, err := cl.AliasCredential(ctx, t.aliasID, id, ct)
			if err != nil {
				return nil, err
			}
			c.Username, c.Domain = ac.AccountName, ac.DomainName
			c.SystemName, c.AccountName = ac.SystemName, ac.AccountName
			c.SystemID, c.AccountID = ac.SystemID, ac.AccountID
			switch ct {
			case client.CredentialPassword:
				v = ac.Password
			case client.CredentialDSSKey:
				v = ac.PrivateKey
			case client.CredentialPassphrase:
				v = ac.Passphrase
			}
		} else {
			var err error
			if v, err = cl.Credential(ctx, id, ct); err != nil {
				return nil, err
			}
		}
		c.Values[ct] = v
	}
	return c, nil
}

// waitForApproval polls GET Credentials while the request answers 4034, for
// approval_wait counted in one-second polls (the pause between polls is
// b.approvalPoll, one second outside tests), and no longer than ctx allows.
func (co *checkout) waitForApproval(ctx context.Context) (*Credential, error) {
	wait := co.role.ApprovalWait
	if wait > maxApprovalWait {
		wait = maxApprovalWait
	}
	// Rollback must never race a checkout still waiting: with a shortened
	// wal_rollback_min_age (tests, demos) the wait shrinks with it.
	if limit := co.b.walRollbackMinAge * 2 / 3; wait > limit { // 10m at the default 15m
		wait = limit
	}
	polls := int((wait + time.Second - 1) / time.Second)
	err := error(&client.Error{Op: "GET Credentials", StatusCode: http.StatusForbidden, Code: client.CodeNotApproved})
	t := time.NewTimer(co.b.approvalPoll)
	defer t.Stop()
	for i := 0; i < polls; i++ {
		if i > 0 {
			t.Reset(co.b.approvalPoll)
		}
		select {
		case <-ctx.Done():
			return nil, err // answer "pending" rather than fail: the request lives on
		case <-t.C:
		}
		var data *Credential
		data, err = co.credentials(ctx)
		if !client.IsNotApproved(err) {
			return data, err
		}
	}
	return nil, err
}

// pending records the request as awaiting approval, owned by the caller's
// entity, and answers with its ID and how to fetch the credential later.
func (co *checkout) pending(ctx context.Context, submitted bool) (*CheckoutResult, error) {
	b := co.b
	// The approval wait may have run out the request's context; recording
	// the pending claim must still happen.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	lock := b.lockRequest(co.id)
	lock.Lock()
	h, err := getHolder(ctx, co.s, co.id, co.w.ID)
	if err == nil && h == nil {
		err = fmt.Errorf("the hold on request %d vanished", co.id)
	}
	if err == nil {
		h.Pending, h.TTL, h.MaxTTL = true, co.lt.TTL, co.lt.MaxTTL
		h.CredentialTypes = co.role.CredentialTypes
		// The marker first (see keepOrphan).
		if err = markPendingIndex(ctx, co.s, co.id); err == nil {
			err = putHolder(ctx, co.s, co.id, co.w.ID, h)
		}
	}
	lock.Unlock()
	if err != nil {
		return co.fail(ctx, err)
	}
	if err := deleteWAL(ctx, co.s, &co.w); err != nil {
		return nil, err
	}
	b.Logger().Info("request pending approval", "request_id", co.id, "role", co.role.Name, "run_as", co.runAs)
	return &CheckoutResult{Pending: &Pending{
		RequestID: co.id, Submitted: submitted,
		Role: co.role.Name, SystemName: co.role.SystemName, AccountName: co.role.AccountName,
	}}, nil
}

// known is what a caller knows of its request r: when this mount made it
// (zero: not known), and the earliest it can end (zero: nothing).
type known func(r client.Request) (made, time.Time)

// activeExpiry looks active request id up (GET Requests) and gives its
// real expiry by the engine's clock: a date without a zone is read at the
// earliest it may stand for (see zoneGuess.earliest), and no earlier than
// what the engine knows for sure: own's bound, or the record of a request
// this mount made. When the request was found, it is returned even with an
// error (the caller may need its Reason).
func (b *Engine) activeExpiry(ctx context.Context, s logical.Storage, gen uint64, cl *client.Client, id int, own known) (client.Request, time.Time, error) {
	reqs, err := cl.ListRequests(ctx, "active", "")
	if err != nil {
		return client.Request{}, time.Time{}, err
	}
	for _, r := range reqs {
		if r.RequestID != id {
			continue
		}
		if r.ExpiresDate == nil {
			return r, time.Time{}, fmt.Errorf("request %d: Password Safe gives no expiry date", id)
		}
		var m made
		var floor time.Time
		if own != nil {
			m, floor = own(r)
		}
		g := b.serverZone(ctx, s, gen, reqs, map[int]made{id: m})
		// Listed as active, it has not ended by the server's clock, which
		// may be rollbackSlack off the engine's.
		now := b.now()
		exp := g.earliest(r, *r.ExpiresDate, now.Add(-rollbackSlack))
		if !r.Zoneless {
			return r, exp, nil
		}
		// Read from a date, it may be an hour early; what the engine knows
		// from its own clock may be later.
		if f := b.madeEnd(ctx, s, id); f.After(floor) {
			floor = f
		}
		if !floor.Before(exp) {
			return r, floor, nil
		}
		why := "the hour a daylight saving change may have moved the server's offset by since this mount learned it"
		if !g.known {
			why = "the server's offset from UTC, which this mount has not learned yet (it learns it from a request it makes)"
			b.Logger().Warn("Password Safe writes dates without a zone, and its offset from UTC is not known yet: "+
				"a lease ends at the earliest the request's expiry may stand for", "request_id", id, "expires_at", exp)
		}
		if !exp.After(now) {
			// Not an internal error: the request is live, only its end
			// cannot be told yet. A retry succeeds once it has ended (or,
			// while the offset is unknown, once the mount has learned it).
			return r, time.Time{}, logical.CodedError(http.StatusServiceUnavailable, fmt.Sprintf(
				"Password Safe request %d may end at any moment: Password Safe writes its dates without a time zone, "+
					"and read at the earliest it may stand for (allowing for %s) its expiry has passed; "+
					"try again later, once the request has ended", id, why))
		}
		return r, exp, nil
	}
	return client.Request{}, time.Time{}, logical.CodedError(http.StatusBadGateway,
		fmt.Sprintf("Password Safe request %d is not among the run-as user's active requests", id))
}

// madeEnd is the earliest request id can end by its record, when this
// mount made it (zero otherwise): its checkout wrote DurationMinutes after
// its POST, by the engine's clock, and every later expiry it was given is
// an earliest reading too.
func (b *Engine) madeEnd(ctx context.Context, s logical.Storage, id int) time.Time {
	if s == nil {
		return time.Time{}
	}
	lock := b.lockRequest(id)
	lock.Lock()
	rec, err := getRecord(ctx, s, id)
	lock.Unlock()
	if err != nil || rec == nil || !rec.Created || rec.Ended || rec.MadeFrom.IsZero() {
		return time.Time{}
	}
	return rec.ExpiresAt
}

// isPendingStatus: see client.IsPendingStatus (every documented spelling).
func isPendingStatus(s string) bool { return client.IsPendingStatus(s) }

// grant is the lease for a checked-out credential. Its max TTL is the
// lifetime's, cut so the lease never outlives the request; its TTL never
// exceeds that.
func (b *Engine) grant(l Lease, c *Credential) (*Grant, error) {
	now := b.now()
	maxTTL := l.MaxTTL
	if left := l.ExpiresAt.Sub(now).Truncate(time.Second); left < maxTTL {
		maxTTL = left
	}
	if maxTTL <= 0 {
		return nil, fmt.Errorf("request %d has already expired in Password Safe (at %s)", l.RequestID, l.ExpiresAt.UTC().Format(time.RFC3339))
	}
	ttl := l.TTL
	if ttl > maxTTL {
		ttl = maxTTL
	}
	l.IssuedAt, l.MaxTTL = now, maxTTL
	c.ExpiresAt = l.ExpiresAt
	return &Grant{Lease: l, TTL: ttl, MaxTTL: maxTTL, Credential: *c}, nil
}
