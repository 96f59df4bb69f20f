package paths

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

const requestsHelpSynopsis = "List, make, approve, deny and check in Password Safe requests."

const requestsHelpDescription = `
The Password Safe Requests API, governed by Vault policy.

Every call acts as the caller's run-as user: the config's run_as, or (with
run_as_source on config) the Password Safe user named by the caller's Vault
identity. The caller cannot choose it. Password Safe then applies that user's
own permissions: a requestor sees and checks in their own requests; an
approver sees the requests waiting for them and approves or denies them.
Approvers act as themselves only when the run-as user comes from identity;
with a fixed run_as every caller acts as that one user.

  LIST  requests/                    the run-as user's requests (status, queue)
  WRITE requests                     make a request for a role, without waiting
                                     for approval (role, ttl, reason, ticket_number)
  READ  requests/<id>                one request
  READ  requests/<id>/creds          the credential of an approved request, under
                                     a lease; only the Vault entity that made it
  WRITE requests/<id>/approve        approve (reason)
  WRITE requests/<id>/deny           deny (reason)
  WRITE requests/<id>/checkin        end a request now (reason)
  WRITE requests/<id>/rotate-on-checkin
                                     rotate the credential when it is checked in

Refusals by Password Safe come back with the meaning of their sub-code:
4031 no permission, 4032 requestor only, 4033 cannot approve or deny one's own
request, 4034 not approved yet, 4035 not enough approvers, 4036 approved already.

Password Safe lets only the user who made a request check it in: with a fixed
run_as, any caller allowed to write requests/<id>/checkin can end the
engine's requests; with identity run-as, each person ends their own (end
others' by revoking their Vault lease). A Vault lease whose request was
checked in here revokes without error later.

Examples:

    vault write passwordsafe/requests role=fin reason="quarter close" ticket_number=CHG-42
    vault read  passwordsafe/requests status=pending
    vault read  passwordsafe/requests queue=app            # as an approver
    vault write passwordsafe/requests/1001/approve reason="ok for the close"
    vault read  passwordsafe/requests/1001/creds           # as the requestor
    vault write passwordsafe/requests/1001/checkin reason="done"
`

// idPattern captures a request ID: digits only, so "-1", "abc" and "1/2"
// match no path at all; zero and overflow are refused by requestID.
const idPattern = `(?P<id>\d+)`

// roleNameRe is what roles/<name> accepts, so a role given in a body
// names a role and nothing else in storage.
var roleNameRe = regexp.MustCompile("^" + framework.GenericNameRegex("name") + "$")

// requestPaths is the requests path family.
func requestPaths(engine *backend.Engine, secret *framework.Secret) []*framework.Path {
	h := &requestsHandler{engine: engine, secret: secret}
	idField := func() map[string]*framework.FieldSchema {
		return map[string]*framework.FieldSchema{
			"id": {
				Type:         framework.TypeInt,
				Description:  "Password Safe request ID (a positive integer).",
				Required:     true,
				DisplayAttrs: &framework.DisplayAttributes{Name: "Request ID"},
			},
		}
	}
	reasonField := map[string]*framework.FieldSchema{
		"reason": {
			Type:         framework.TypeString,
			Description:  fmt.Sprintf("Reason recorded in Password Safe (at most %d characters; newline and tab allowed, no other control characters); default names the Vault path.", MaxReasonLen),
			DisplayAttrs: &framework.DisplayAttributes{Name: "Reason"},
		},
	}
	queueField := map[string]*framework.FieldSchema{
		"queue": {
			Type: framework.TypeLowerCaseString,
			Description: "req: requests the run-as user made; app: requests waiting for (or approved by) " +
				"the run-as user as an approver.",
			AllowedValues: []interface{}{"req", "app"},
			Query:         true,
			DisplayAttrs:  &framework.DisplayAttributes{Name: "Queue"},
		},
	}
	action := func(name, verb, done, summary string, withReason bool, do func(context.Context, *client.Client, int, string) error) *framework.Path {
		fields := idField()
		if withReason {
			fields = mergeFields(fields, reasonField)
		}
		a := &requestAction{h: h, name: name, verb: verb, done: done, reason: withReason, do: do}
		return &framework.Path{
			Pattern: "requests/" + idPattern + "/" + name + "$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "request",
			},
			Fields: fields,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{
					Callback:                    a.handle,
					DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: strings.ReplaceAll(name, "-", "")},
					Summary:                     summary,
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
			},
			HelpSynopsis:    summary,
			HelpDescription: strings.TrimSpace(requestsHelpDescription),
		}
	}

	return []*framework.Path{
		{
			Pattern: "requests/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				Navigation:      true,
				ItemType:        "Request",
			},
			Fields: mergeFields(queueField, map[string]*framework.FieldSchema{
				"status": {
					Type:          framework.TypeLowerCaseString,
					Description:   "Which requests to list: all (default), active or pending.",
					AllowedValues: []interface{}{"all", "active", "pending"},
					Query:         true,
					DisplayAttrs:  &framework.DisplayAttributes{Name: "Status"},
				},
				"role": {
					Type:         framework.TypeLowerCaseString,
					Description:  "Write: the role whose target to request.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Role name"},
				},
			}, checkoutFields("Write: ", "lease TTL of the credential once claimed")),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     h.list,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list", OperationSuffix: "requests"},
					Summary:      "List the run-as user's Password Safe requests (status, queue).",
				},
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.list,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "query", OperationSuffix: "requests"},
					Summary:      "List the run-as user's Password Safe requests (status, queue); the same as LIST.",
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:                    h.create,
					DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "submit", OperationSuffix: "request"},
					Summary:                     "Make a Password Safe request for a role without waiting for approval.",
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
			},
			HelpSynopsis:    requestsHelpSynopsis,
			HelpDescription: strings.TrimSpace(requestsHelpDescription),
		},
		{
			Pattern: "requests/" + idPattern + "$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "request",
			},
			Fields: mergeFields(idField(), queueField),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.read,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
					Summary:      "Read one Password Safe request of the run-as user (or of their approval queue).",
				},
			},
			HelpSynopsis:    "Read one Password Safe request.",
			HelpDescription: strings.TrimSpace(requestsHelpDescription),
		},
		{
			Pattern: "requests/" + idPattern + "/creds$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: OperationPrefix,
				OperationSuffix: "request-credentials",
			},
			Fields: idField(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:                    h.claim,
					DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "claim"},
					Summary:                     "Read the credential of an approved request under a lease (only the Vault entity that made the request).",
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
			},
			HelpSynopsis:    "Read the credential of an approved Password Safe request under a Vault lease.",
			HelpDescription: strings.TrimSpace(requestCredsHelpDescription),
		},
		action("approve", "approve", "approved", "Approve a Password Safe request as the run-as user.", true,
			func(ctx context.Context, cl *client.Client, id int, reason string) error {
				return cl.Approve(ctx, id, reason)
			}),
		action("deny", "deny", "denied", "Deny a Password Safe request as the run-as user.", true,
			func(ctx context.Context, cl *client.Client, id int, reason string) error {
				return cl.Deny(ctx, id, reason)
			}),
		action("checkin", "check in", "checked in", "Check a Password Safe request in (end it) as the run-as user.", true,
			func(ctx context.Context, cl *client.Client, id int, reason string) error {
				return cl.Checkin(ctx, id, reason)
			}),
		action("rotate-on-checkin", "turn on rotation at check-in for", "set to rotate at check-in", "Rotate the credential when the request is checked in.", false,
			func(ctx context.Context, cl *client.Client, id int, _ string) error {
				return cl.RotateOnCheckin(ctx, id)
			}),
	}
}

const requestCredsHelpDescription = `
Once Password Safe has approved a request made with "vault write <mount>/requests
role=<role>" (or by a creds read that ran out of approval_wait), reading
requests/<id>/creds returns its credential under a Vault lease, exactly like
creds/<role>: renewing extends it up to the request's expiry, and revoking
it checks the request in (rotating the credential when the role says so).

Only the Vault entity that made the request may read it; any other caller
gets 403 and the request is left alone. Grant this path to requestors:

    path "passwordsafe/requests/+/creds" { capabilities = ["read"] }

Before approval the read answers 403 (4034, not approved yet).
`

type requestsHandler struct {
	engine *backend.Engine
	secret *framework.Secret
}

// requestID reads the id captured from the path: a positive 32-bit integer.
func requestID(d *framework.FieldData) (int, *logical.Response) {
	s, _ := d.Raw["id"].(string)
	id, err := ParseID("request ID", s)
	if err != nil {
		return 0, logical.ErrorResponse(err.Error())
	}
	return id, nil
}

// queueAndStatus reads the list filters.
func queueAndStatus(d *framework.FieldData, withStatus bool) (status, queue string, err error) {
	if v, ok := d.GetOk("queue"); ok {
		queue = v.(string)
		if queue != "req" && queue != "app" {
			return "", "", fmt.Errorf("queue must be req (the run-as user's own requests) or app (requests to approve), got %q", capText(queue))
		}
	}
	if withStatus {
		if v, ok := d.GetOk("status"); ok {
			status = v.(string)
			if status != "all" && status != "active" && status != "pending" {
				return "", "", fmt.Errorf("status must be all, active or pending, got %q", capText(status))
			}
		}
	}
	return status, queue, nil
}

// capText shortens user input quoted back in a message.
func capText(s string) string {
	if utf8.RuneCountInString(s) > 32 {
		return string([]rune(s)[:32]) + "..."
	}
	return s
}

func timeOrNil(t *time.Time) interface{} {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// requestData is the Vault view of one element of GET Requests.
func requestData(r client.Request) map[string]interface{} {
	return map[string]interface{}{
		"request_id":     r.RequestID,
		"status":         strings.ToLower(r.Status),
		"system_id":      r.SystemID,
		"system_name":    r.SystemName,
		"account_id":     r.AccountID,
		"account_name":   r.AccountName,
		"domain_name":    r.DomainName,
		"alias_id":       r.AliasID,
		"application_id": r.ApplicationID,
		"access_type":    r.AccessType,
		"reason":         r.Reason,
		"requested_at":   timeOrNil(r.RequestReleaseDate),
		"approved_at":    timeOrNil(r.ApprovedDate),
		"expires_at":     timeOrNil(r.ExpiresDate),
	}
}

// ---- handlers ----

func (h *requestsHandler) list(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	status, queue, err := queueAndStatus(d, true)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cl, runAs, _, err := callerSession(ctx, h.engine, req, false)
	if err != nil {
		return nil, err
	}
	list, err := cl.ListRequests(ctx, status, queue)
	if err != nil {
		return nil, UpstreamError(fmt.Sprintf("list the Password Safe requests of run-as user %q", runAs), err)
	}
	keys := make([]string, 0, len(list))
	info := make(map[string]interface{}, len(list))
	for _, r := range list {
		k := strconv.Itoa(r.RequestID)
		if _, dup := info[k]; dup {
			continue
		}
		keys = append(keys, k)
		info[k] = requestData(r)
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

// read finds one request in the run-as user's own requests, then (unless a
// queue is given) in their approval queue. Password Safe lists open
// requests only: an ended or unknown request is a 404.
func (h *requestsHandler) read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id, bad := requestID(d)
	if bad != nil {
		return bad, nil
	}
	_, queue, err := queueAndStatus(d, false)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cl, runAs, _, err := callerSession(ctx, h.engine, req, false)
	if err != nil {
		return nil, err
	}
	queues := []string{"req", "app"}
	if queue != "" {
		queues = []string{queue}
	}
	for _, q := range queues {
		list, err := cl.ListRequests(ctx, "all", q)
		if err != nil {
			if q == "app" && queue == "" && client.IsForbidden(err) {
				break // not an approver: there is no approval queue to look in
			}
			return nil, UpstreamError(fmt.Sprintf("look up Password Safe request %d as run-as user %q", id, runAs), err)
		}
		for _, r := range list {
			if r.RequestID == id {
				data := requestData(r)
				data["queue"] = q
				return &logical.Response{Data: data}, nil
			}
		}
	}
	return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf(
		"Password Safe request %d is not open among the requests of run-as user %q or awaiting their approval "+
			"(it has ended, or belongs to someone else)", id, runAs))
}

// create is requests write: POST Requests for the role, recorded as owned
// by the caller's entity, without waiting for approval or reading the
// credential. The answer says whether approval is pending.
func (h *requestsHandler) create(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if bad := refuseRunAsOverride(req); bad != nil {
		return bad, nil
	}
	for _, f := range []string{"status", "queue"} {
		if _, ok := req.Data[f]; ok {
			return logical.ErrorResponse("%s filters LIST requests/; a write makes a request (role, ttl, reason, ticket_number)", f), nil
		}
	}
	name := strings.TrimSpace(d.Get("role").(string))
	if name == "" {
		return logical.ErrorResponse("role is required: the role whose target to request"), nil
	}
	if !roleNameRe.MatchString(name) {
		return logical.ErrorResponse("role must be a role name (letters, digits, '-', '.', '_', '@')"), nil
	}
	role, err := h.engine.Role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("role %q does not exist", name), nil
	}
	in := backend.CheckoutInput{Role: role, NoWait: true}
	if role.Reason == "" {
		in.Reason = backend.CutReason(fmt.Sprintf("vault: %srequests (role %s)", req.MountPoint, role.Name), MaxRequestReasonLen)
	}
	if err := checkoutSettings(d, &in); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	res, err := h.engine.Checkout(ctx, req, in)
	if err != nil {
		return apiError(req, err)
	}
	resp := checkoutResponse(req, h.secret, res)
	if id := res.Pending.RequestID; id > 0 {
		h.reportStatus(ctx, req, role, id, resp)
	}
	switch {
	case req.EntityID == "" && req.ClientTokenAccessor == "":
		resp.AddWarning("this token has no Vault identity entity: any other token without an entity may read " +
			"the request's credential; log in through an auth method so the request is yours alone")
	case req.EntityID == "":
		resp.AddWarning("this token has no Vault identity entity: only this same token can read the request's " +
			"credential; log in through an auth method to collect it from any of your sessions")
	}
	return resp, nil
}

// reportStatus replaces the checkout's "submitted" with Password Safe's
// status of the new request (pending approval or active), best effort.
func (h *requestsHandler) reportStatus(ctx context.Context, req *logical.Request, role *backend.Role, id int, resp *logical.Response) {
	cfg, err := h.engine.Config(ctx, req.Storage)
	if err != nil || cfg == nil {
		return
	}
	runAs, err := h.engine.ResolveRunAs(ctx, req, cfg, role)
	if err != nil {
		return
	}
	cl, err := h.engine.Client(ctx, req.Storage, runAs)
	if err != nil {
		return
	}
	list, err := cl.ListRequests(ctx, "all", "")
	if err != nil {
		h.engine.Logger().Debug("could not look up the status of a new request", "request_id", id, "error", err)
		return
	}
	for _, r := range list {
		if r.RequestID != id {
			continue
		}
		pending := client.IsPendingStatus(r.Status)
		status := strings.ToLower(r.Status)
		if pending {
			status = "pending" // however Password Safe spells it
		}
		resp.Data["status"] = status
		if !pending {
			// A pending request's clock starts at approval.
			resp.Data["expires_at"] = timeOrNil(r.ExpiresDate)
		}
		credsPath, _ := resp.Data["creds_path"].(string)
		msg := fmt.Sprintf("Password Safe request %d for %s/%s is active. Read the credential with: vault read %s",
			id, role.SystemName, role.AccountName, credsPath)
		if pending {
			msg = fmt.Sprintf("Password Safe request %d for %s/%s is waiting for approval. Once an approver has approved it, "+
				"read the credential with: vault read %s", id, role.SystemName, role.AccountName, credsPath)
		}
		resp.Data["message"] = msg
		resp.Warnings = []string{msg}
		return
	}
}

func (h *requestsHandler) claim(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id, bad := requestID(d)
	if bad != nil {
		return bad, nil
	}
	g, err := h.engine.Claim(ctx, req, id)
	if err != nil {
		return apiError(req, err)
	}
	return grantResponse(h.secret, g), nil
}
