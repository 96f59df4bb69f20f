package backend

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// RotateInput is one roles/:name/rotate write: change the credential of
// the role's account through POST ManagedAccounts/{id}/Credentials/Change.
type RotateInput struct {
	Role *Role
	// Password is the new password; empty lets Password Safe generate one.
	// It is sent to Password Safe and nowhere else (no log, no result).
	Password string
	// Queue: Password Safe queues the change when the managed system is
	// unreachable instead of failing (the API's default, false).
	Queue bool
	// UpdateSystem: change the credential on the managed system too (the
	// API's default, true); false changes only what Password Safe stores.
	UpdateSystem bool
	// Force rotates even while this mount holds leases or pending claims
	// on the account (their credential changes under them), or a queued
	// check-in of it Password Safe has not taken.
	Force bool
}

// Holding is one request of this mount on a rotated account: how many
// leases and pending claims hold it.
type Holding struct {
	RequestID int
	Role      string
	RunAs     string
	Leases    int
	Pending   int
	// Unfinished: a checkout in progress (or left for WAL rollback), which
	// may hand out the old credential; RequestID is 0 when not known yet.
	Unfinished bool
	// Queued: its last lease was revoked, but Password Safe has not taken
	// the check-in yet (the check-in queue retries it): the request is
	// still open upstream, and its check-in may rotate the credential
	// again once it lands.
	Queued bool
}

// RotateResult is what a rotation did.
type RotateResult struct {
	Role                    string
	SystemID, AccountID     int
	SystemName, AccountName string
	AliasID                 int
	AliasName               string
	RunAs                   string
	// Generated: Password Safe chose the new password (none was given).
	Generated           bool
	Queue, UpdateSystem bool
	// Affected are this mount's holdings on the account, rotated under
	// with Force.
	Affected []Holding
}

// RotateConflictError refuses a rotation while this mount holds the
// account (409), unless forced.
type RotateConflictError struct {
	Role, SystemName, AccountName string
	Holdings                      []Holding
}

func (e *RotateConflictError) Error() string {
	return fmt.Sprintf("this mount holds %s/%s (role %q): %s; rotating now would change the credential under them",
		e.SystemName, e.AccountName, e.Role, DescribeHoldings(e.Holdings))
}

// Code makes it a logical.HTTPCodedError: 409.
func (e *RotateConflictError) Code() int { return http.StatusConflict }

// DescribeHoldings says in words which requests, leases and claims hold.
func DescribeHoldings(hs []Holding) string {
	parts := make([]string, 0, len(hs))
	for _, h := range hs {
		var what []string
		if h.Leases > 0 {
			what = append(what, plural(h.Leases, "lease"))
		}
		if h.Pending > 0 {
			what = append(what, plural(h.Pending, "pending claim"))
		}
		if h.Unfinished {
			what = append(what, "a checkout in progress")
		}
		if h.Queued {
			what = append(what, "a queued check-in Password Safe has not taken yet")
		}
		id := "request " + strconv.Itoa(h.RequestID)
		if h.RequestID == 0 {
			id = "a request not yet made"
		}
		parts = append(parts, fmt.Sprintf("%s (role %q, run-as %q): %s", id, h.Role, h.RunAs, strings.Join(what, ", ")))
	}
	return strings.Join(parts, "; ")
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return strconv.Itoa(n) + " " + s + "s"
}

// Rotate changes the credential of in.Role's account in Password Safe, as
// the run-as user the role resolves to for the caller of req. An alias role
// rotates the account the alias maps to now (Password Safe has no
// credential change by alias). Check-ins of the account's requests still
// queued go first; refused with a RotateConflictError while this mount
// holds the account (or a queued check-in Password Safe still does not
// take), unless in.Force. A failed call is an *OpError; Definite(err) tells
// whether the credential may have changed (when it may have, the rotate
// event is sent with outcome=unknown).
func (b *Engine) Rotate(ctx context.Context, req *logical.Request, in RotateInput) (*RotateResult, error) {
	role := in.Role
	_, runAs, cl, err := b.roleClient(ctx, req, role)
	if err != nil {
		return nil, err
	}
	res := &RotateResult{
		Role: role.Name, SystemID: role.SystemID, AccountID: role.AccountID,
		SystemName: role.SystemName, AccountName: role.AccountName,
		AliasID: role.AliasID, AliasName: role.AliasName, RunAs: runAs,
		Generated: in.Password == "", Queue: in.Queue, UpdateSystem: in.UpdateSystem,
	}
	if role.Target == TargetAlias {
		al, err := cl.Alias(ctx, role.AliasID)
		if err != nil {
			return nil, upstream(fmt.Sprintf("look up alias %q (ID %d) to find the account it maps to", role.AliasName, role.AliasID), err)
		}
		if al.AccountID <= 0 {
			return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf(
				"alias %q (ID %d) maps to no managed account now, so there is no credential to change", role.AliasName, role.AliasID))
		}
		res.SystemID, res.AccountID = al.SystemID, al.AccountID
		res.SystemName, res.AccountName = al.SystemName, al.AccountName
	}
	// Checkouts of the account by the same run-as user wait until the
	// change is done (they hold these locks shared): none is handed the old
	// credential while it changes. Checkouts through an alias lock by
	// alias, not by account: any of them may land on this account.
	lock := b.lockAccount(runAs, res.AccountID)
	lock.Lock()
	defer lock.Unlock()
	aliases := b.lockAliases(runAs)
	aliases.Lock()
	defer aliases.Unlock()
	// A queued check-in's request is still open upstream, and its check-in
	// (rotating on check-in, if it was made so) would land after this
	// change and replace the credential again: the password asked for here
	// would not stick. So Password Safe gets those check-ins first.
	if err := b.checkinQueuedOn(ctx, req.Storage, res.AccountID); err != nil {
		return nil, err
	}
	holdings, err := b.holdings(ctx, req.Storage, res.AccountID)
	if err != nil {
		return nil, err
	}
	if len(holdings) > 0 && !in.Force {
		return nil, &RotateConflictError{Role: role.Name, SystemName: res.SystemName, AccountName: res.AccountName, Holdings: holdings}
	}
	update := in.UpdateSystem
	err = cl.ChangeCredentials(ctx, res.AccountID, client.ChangeCredentialsInput{
		Password: in.Password, Queue: in.Queue, UpdateSystem: &update,
	})
	if err != nil && Definite(err) {
		return nil, upstream(fmt.Sprintf("change the credential of %s/%s (account ID %d) as run-as user %q",
			res.SystemName, res.AccountName, res.AccountID, runAs), err)
	}
	// Another run-as user's checkout of the account may have begun while
	// the credential changed: it is affected too.
	if after, herr := b.holdings(ctx, req.Storage, res.AccountID); herr == nil && len(after) > len(holdings) {
		holdings = after
	}
	outcome := "changed"
	if err != nil {
		// The credential may have changed: operators following the events
		// must hear of it as of any other rotation.
		outcome = "unknown"
	} else {
		res.Affected = holdings
	}
	ids := make([]string, 0, len(holdings))
	for _, h := range holdings {
		if h.RequestID != 0 {
			ids = append(ids, strconv.Itoa(h.RequestID))
		}
	}
	forced := in.Force && len(holdings) > 0
	kv := []interface{}{"role", role.Name, "system_id", res.SystemID, "account_id", res.AccountID, "run_as", runAs,
		"entity_id", req.EntityID, "generated", res.Generated, "queue", in.Queue, "update_system", in.UpdateSystem,
		"forced", forced, "affected_requests", strings.Join(ids, ",")}
	if err != nil {
		b.Logger().Warn("credential change sent to Password Safe with no answer: it may or may not have changed",
			append(kv, "error", err)...)
	} else {
		b.Logger().Info("credential changed in Password Safe", kv...)
	}
	b.emit(ctx, eventRotate, "role", role.Name, "system_name", res.SystemName, "account_name", res.AccountName,
		"system_id", strconv.Itoa(res.SystemID), "account_id", strconv.Itoa(res.AccountID), "run_as", runAs,
		"generated", strconv.FormatBool(res.Generated), "queue", strconv.FormatBool(in.Queue),
		"update_system", strconv.FormatBool(in.UpdateSystem), "forced", strconv.FormatBool(forced),
		"affected_requests", strings.Join(ids, ","), "outcome", outcome)
	if err != nil {
		return nil, upstream(fmt.Sprintf("change the credential of %s/%s (account ID %d) as run-as user %q",
			res.SystemName, res.AccountName, res.AccountID, runAs), err)
	}
	return res, nil
}

// checkinQueuedOn tries, now, the queued check-ins of requests that may be
// of the account (under the account's lock, which Rotate holds). Those
// Password Safe does not take stay queued, and holdings reports them.
func (b *Engine) checkinQueuedOn(ctx context.Context, s logical.Storage, accountID int) error {
	qs, err := b.queuedOn(ctx, s, accountID)
	if err != nil {
		return err
	}
	for _, q := range qs {
		down, err := b.retryQueued(ctx, s, q.RequestID, true)
		if err != nil {
			return err
		}
		if down {
			return nil // the rest would fare the same; they stay queued
		}
	}
	return nil
}

// queuedOn lists the queued check-ins that may be of the account.
func (b *Engine) queuedOn(ctx context.Context, s logical.Storage, accountID int) ([]*queued, error) {
	all, err := allQueued(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []*queued
	for _, q := range all {
		if q.onAccount(accountID) {
			out = append(out, q)
		}
	}
	return out, nil
}

// holdings lists what this mount holds that may be of the account: its
// records' leases and pending claims, checkouts in progress, and queued
// check-ins. A request made through an alias counts on any account until
// Password Safe has named its account (see record.onAccount): the alias
// may have been re-pointed since the role was written, and neither the
// role nor the alias's mapping now says which account it holds. It walks
// every record, so its cost grows with the mount's live requests.
func (b *Engine) holdings(ctx context.Context, s logical.Storage, accountID int) ([]Holding, error) {
	keys, err := s.List(ctx, recordPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing held requests: %w", err)
	}
	byID := map[int]*Holding{}
	for _, k := range keys {
		id, err := strconv.Atoi(k)
		if err != nil {
			continue
		}
		rec, err := b.readRecord(ctx, s, id)
		if err != nil {
			return nil, err
		}
		if rec == nil || !rec.onAccount(accountID) {
			continue
		}
		hs, err := holdersOf(ctx, s, id)
		if err != nil {
			return nil, err
		}
		h := &Holding{RequestID: id, Role: rec.Role, RunAs: rec.RunAs}
		for _, ho := range hs {
			switch {
			case ho.Orphan:
			case ho.Pending:
				h.Pending++
			default:
				h.Leases++
			}
		}
		if h.Leases+h.Pending > 0 {
			byID[id] = h
		}
	}
	walIDs, err := framework.ListWAL(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("listing WAL entries: %w", err)
	}
	var out []Holding
	for _, wid := range walIDs {
		e, err := framework.GetWAL(ctx, s, wid)
		if err != nil {
			return nil, fmt.Errorf("reading WAL entry: %w", err)
		}
		if e == nil || e.Kind != walKindRequest {
			continue
		}
		w, err := decodeWAL(e.Data)
		// A checkout through an alias learns its account with the
		// credential, after its WAL entry: it may be of any account.
		if err != nil || (w.AccountID != accountID && w.AliasID == 0) {
			continue
		}
		if h := byID[w.RequestID]; w.RequestID != 0 && h != nil {
			h.Unfinished = true
			continue
		}
		out = append(out, Holding{RequestID: w.RequestID, Role: w.Role, RunAs: w.RunAs, Unfinished: true})
	}
	qs, err := b.queuedOn(ctx, s, accountID)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if h := byID[q.RequestID]; h != nil {
			h.Queued = true
			continue
		}
		byID[q.RequestID] = &Holding{RequestID: q.RequestID, Role: q.Role, RunAs: q.RunAs, Queued: true}
	}
	for _, h := range byID {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestID < out[j].RequestID })
	return out, nil
}

// readRecord reads a record under its request's lock (getRecord may
// migrate an old one).
func (b *Engine) readRecord(ctx context.Context, s logical.Storage, id int) (*record, error) {
	lock := b.lockRequest(id)
	lock.Lock()
	defer lock.Unlock()
	return getRecord(ctx, s, id)
}
