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
	// on the account (their credential changes under them).
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
// credential change by alias). Refused with a RotateConflictError while
// this mount holds the account, unless in.Force. A failed call is an
// *OpError; Definite(err) tells whether the credential may have changed.
func (b *Engine) Rotate(ctx context.Context, req *logical.Request, in RotateInput) (*RotateResult, error) {
	role := in.Role
	cfg, err := b.Config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, &InputError{Msg: ErrNotConfigured.Error()}
	}
	runAs, err := b.resolveRunAs(ctx, req, cfg, role)
	if err != nil {
		return nil, err
	}
	cl, err := b.Client(ctx, req.Storage, runAs)
	if err != nil {
		return nil, upstream("connect to Password Safe", err)
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
	// change is done (they hold this lock shared): none is handed the old
	// credential while it changes.
	lock := b.lockAccount(runAs, res.AccountID)
	lock.Lock()
	defer lock.Unlock()
	holdings, err := b.holdings(ctx, req.Storage, res.AccountID, role.AliasID)
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
	if err != nil {
		return nil, upstream(fmt.Sprintf("change the credential of %s/%s (account ID %d) as run-as user %q",
			res.SystemName, res.AccountName, res.AccountID, runAs), err)
	}
	// Another run-as user's checkout of the account may have begun while
	// the credential changed: it is affected too.
	if after, err := b.holdings(ctx, req.Storage, res.AccountID, role.AliasID); err == nil && len(after) > len(holdings) {
		holdings = after
	}
	res.Affected = holdings
	ids := make([]string, 0, len(holdings))
	for _, h := range holdings {
		if h.RequestID != 0 {
			ids = append(ids, strconv.Itoa(h.RequestID))
		}
	}
	b.Logger().Info("credential changed in Password Safe", "role", role.Name, "system_id", res.SystemID,
		"account_id", res.AccountID, "run_as", runAs, "entity_id", req.EntityID, "generated", res.Generated,
		"queue", in.Queue, "update_system", in.UpdateSystem, "forced", in.Force && len(holdings) > 0,
		"affected_requests", strings.Join(ids, ","))
	b.emit(ctx, eventRotate, "role", role.Name, "system_name", res.SystemName, "account_name", res.AccountName,
		"system_id", strconv.Itoa(res.SystemID), "account_id", strconv.Itoa(res.AccountID), "run_as", runAs,
		"generated", strconv.FormatBool(res.Generated), "queue", strconv.FormatBool(in.Queue),
		"update_system", strconv.FormatBool(in.UpdateSystem), "forced", strconv.FormatBool(in.Force && len(holdings) > 0),
		"affected_requests", strings.Join(ids, ","))
	return res, nil
}

// holdings lists this mount's records (and checkouts in progress) on the
// account, or on the alias when aliasID is set: their leases and pending
// claims hold the credential a rotation would change. It walks every
// record, so its cost grows with the mount's live requests.
func (b *Engine) holdings(ctx context.Context, s logical.Storage, accountID, aliasID int) ([]Holding, error) {
	on := func(acct, alias int) bool { return acct == accountID || (aliasID != 0 && alias == aliasID) }
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
		if rec == nil || !on(rec.AccountID, rec.AliasID) {
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
		if err != nil || !on(w.AccountID, w.AliasID) {
			continue
		}
		if h := byID[w.RequestID]; w.RequestID != 0 && h != nil {
			h.Unfinished = true
			continue
		}
		out = append(out, Holding{RequestID: w.RequestID, Role: w.Role, RunAs: w.RunAs, Unfinished: true})
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
