package backend

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Claim is the credential of a request recorded as pending
// (approval) by Checkout, under the same lease type as creds/:role, once
// Password Safe has approved it. Only the entity that made the request may
// claim it; anyone else gets 403 and the request is untouched.
func (b *Engine) Claim(ctx context.Context, req *logical.Request, id int) (*Grant, error) {
	if id <= 0 {
		return nil, inputError("request ID must be a positive integer")
	}
	if err := boundCaller(req); err != nil {
		return nil, err
	}
	lock := b.lockRequest(id)
	lock.Lock()
	rec, err := getRecord(ctx, req.Storage, id)
	var hs map[string]*holder
	if err == nil && rec != nil {
		hs, err = holdersOf(ctx, req.Storage, id)
	}
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	hid, h, err := claimable(rec, hs, id, req)
	if err != nil {
		return nil, err
	}

	gen := b.sessions.generation()
	cl, err := b.Client(ctx, req.Storage, rec.RunAs)
	if err != nil {
		return nil, upstream("connect to Password Safe", err)
	}
	t := target{aliasID: rec.AliasID, systemName: rec.SystemName, accountName: rec.AccountName,
		domainName: rec.DomainName, types: h.CredentialTypes}
	if len(t.types) == 0 {
		t.types = []string{string(client.CredentialPassword)}
	}
	data, err := readCredentials(ctx, cl, t, id)
	switch {
	case client.IsNotApproved(err):
		return nil, logical.CodedError(http.StatusForbidden, fmt.Sprintf(
			"Password Safe request %d is not approved yet (4034); try again once an approver has approved it", id))
	case client.IsNotFound(err):
		b.forgetHolder(ctx, req.Storage, id, hid)
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
			"Password Safe request %d has ended (denied, expired or checked in); make a new request", id))
	case err != nil:
		return nil, upstream("read the credential of Password Safe request "+strconv.Itoa(id), err)
	}
	_, exp, err := b.activeExpiry(ctx, req.Storage, gen, cl, id, func(client.Request) (made, time.Time) { return rec.made(), time.Time{} })
	if err != nil {
		return nil, upstream("look up Password Safe request "+strconv.Itoa(id), err)
	}

	lock.Lock()
	defer lock.Unlock()
	rec, err = getRecord(ctx, req.Storage, id)
	if err == nil && rec != nil {
		h, err = getHolder(ctx, req.Storage, id, hid)
	}
	if err != nil {
		return nil, err
	}
	if rec == nil || h == nil || !h.Pending {
		return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf("Password Safe request %d was claimed already", id))
	}
	g, err := b.grant(Lease{
		RequestID: id, Holder: hid, RunAs: rec.RunAs, Role: rec.Role,
		ExpiresAt: exp, TTL: h.TTL, MaxTTL: h.MaxTTL,
	}, data)
	if err != nil {
		return nil, err
	}
	h.Pending, h.Since = false, b.now()
	if err := putHolder(ctx, req.Storage, id, hid, h); err != nil {
		return nil, err
	}
	rec.extend(exp)
	rec.knowAccount(data)
	if err := putRecord(ctx, req.Storage, rec); err != nil {
		return nil, err
	}
	b.emit(ctx, eventCheckout, "request_id", strconv.Itoa(id), "role", rec.Role,
		"system_name", rec.SystemName, "account_name", rec.AccountName, "run_as", rec.RunAs)
	return g, nil
}

// claimable finds the caller's pending hold on request id.
func claimable(rec *record, hs map[string]*holder, id int, req *logical.Request) (string, *holder, error) {
	if rec == nil {
		return "", nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
			"no pending Password Safe request %d was made through this mount", id))
	}
	others := false
	for k, h := range hs {
		if !h.Pending || h.Orphan {
			continue
		}
		if h.sameCaller(req) {
			c := *h
			return k, &c, nil
		}
		others = true
	}
	if others {
		return "", nil, logical.CodedError(http.StatusForbidden, fmt.Sprintf(
			"Password Safe request %d was made by another Vault entity (or, without one, another token); only that caller may read its credential", id))
	}
	return "", nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
		"Password Safe request %d is not waiting to be claimed", id))
}

// forgetHolder drops a hold on a request that has ended upstream.
func (b *Engine) forgetHolder(ctx context.Context, s logical.Storage, id int, hid string) {
	b.markEnded(ctx, s, id)
	if err := b.release(ctx, s, id, hid, "", releaseOpts{}); err != nil {
		b.Logger().Warn("could not forget an ended request", "request_id", id, "error", err)
	}
}
