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

// requestExpiry is the real expiry of an active request (GET Requests).
func requestExpiry(ctx context.Context, cl *client.Client, id int) (time.Time, error) {
	r, err := activeRequest(ctx, cl, id)
	if err != nil {
		return time.Time{}, err
	}
	return *r.ExpiresDate, nil
}

// activeRequest is an active request of the run-as user (GET Requests).
func activeRequest(ctx context.Context, cl *client.Client, id int) (client.Request, error) {
	reqs, err := cl.ListRequests(ctx, "active", "")
	if err != nil {
		return client.Request{}, err
	}
	for _, r := range reqs {
		if r.RequestID == id {
			if r.ExpiresDate == nil {
				return client.Request{}, fmt.Errorf("request %d: Password Safe gives no expiry date", id)
			}
			return r, nil
		}
	}
	return client.Request{}, logical.CodedError(http.StatusBadGateway,
		fmt.Sprintf("Password Safe request %d is not among the run-as user's active requests", id))
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
