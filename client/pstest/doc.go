// Package pstest is an in-memory BeyondTrust Password Safe (public API v3)
// for tests, benchmarks and local development, in the spirit of
// net/http/httptest: NewServer starts a real HTTP server on 127.0.0.1 that
// speaks the documented wire protocol (sessions, release requests with their
// whole life cycle, credentials, discovery), keeps time on a fake clock, and
// lets tests change the world, look inside (request states, current
// passwords, call counts) and inject faults (error statuses, latency,
// dropped connections, lost answers).
//
// It is an independent implementation of the contract in the Password Safe
// documentation; it does not import the project's client package, so the
// client's tests against it are a real check of both. BeyondTrust's own Go
// client library works against it unchanged (see e2e/compat).
//
//	s := pstest.NewServer(pstest.DemoWorld()) // or NewTLSServer, LoadWorld("world.yaml")
//	defer s.Close()
//	// point a client at s.APIURL (s.Client() reaches it), sign in with
//	// pstest.DemoAPIKey as "svc-vault" …
//	s.Advance(time.Hour)                       // requests expire, passwords rotate
//	s.Faults().Inject(pstest.Fault{Endpoint: pstest.EndpointCreateRequest, Status: 503, Count: 2})
//	s.Edit().SetAccountExclusive(11, true)     // change the world under the server's lock
//	s.Inspect().Password(11)                   // look inside
//
// # API
//
// Like httptest.Server, a Server's own methods are about the server: URL
// and APIURL, Client (one *http.Client, the same on every call, trusting
// the certificate of a NewTLSServer), Certificate (the TLS certificate, nil
// over plain HTTP) and CACertPEM (the same in PEM form, for configurations
// that take PEM), ClientCA and IssueClientCert (client certificates for
// registrations that require one), Handler and ServeHTTP, Close, SetLogger,
// and the clock:
// Now, Advance and UseRealClock. Everything else is in three groups, each
// a small value whose methods take the server's lock:
//
//   - Edit returns an Editor, which changes the simulated world as an
//     administrator would: account settings and policies (SetAccount…),
//     passwords (SetPassword), alias states, the license, whether the API
//     is enabled, the session idle time, ExpireSessions and ExpireTokens,
//     SetHistory, and how answers are spelt where the reference allows
//     several forms (SetStatusWords, SetErrorBodies).
//   - Faults returns the fault injector: Inject, Clear and SetFunc (a
//     FaultFunc deciding call by call, for deterministic simulation).
//   - Inspect returns an Inspector, which reads without changing any API
//     answer: Requests, Request, ActiveRequests, Password, Calls,
//     CallCounts (and ResetCalls), Sessions, ClientCertSignIns and
//     Credentials.
//
// The control API under /_pstest/ offers the same to scripts and to
// processes that only have the URL (see cmd/passwordsafe-sim).
//
// # Checked against BeyondTrust's reference
//
// Each point below was compared with BeyondTrust's API reference
// (docs.beyondtrust.com/bips/reference, pages and their .md OpenAPI
// versions); "silent" means the reference does not say, and the choice is
// the simulator's.
//
//   - GET Requests Status words: the reference types Status as a bare
//     string; only the filter is enumerated, "Status of requests to return
//     (all, active, pending). Default: all"
//     (https://docs.beyondtrust.com/bips/v26.1/reference/get-api-public-v3-requests),
//     spelt "All, Active, Pending" on GET RequestSets
//     (https://docs.beyondtrust.com/bips/v26.1/reference/get-api-public-v3-requestsets).
//     The simulator matches the filter case-insensitively and answers
//     "pending"/"active" by default; Editor.SetStatusWords makes it answer
//     any other spelling ("Pending", "Pending Approval", "Approved"), and
//     the client's IsPendingStatus (which the engine's reconciliation and
//     recovery use) accepts every spelling of pending in any case.
//   - Dates: the reference gives date-formatted strings without a zone rule
//     (silent). Public clients show local times without a zone and with
//     fractions ("2019-05-30T07:30:48.16"). The simulator writes RFC 3339
//     UTC ("…Z"); Editor.SetZonelessDates makes it write a server's local
//     time at a given offset from UTC without a zone, in that form, so
//     tests see what a client that takes it as UTC gets wrong. The client's
//     ParseTime reads RFC 3339, a zone offset, no zone (taken as UTC, and
//     flagged in Request.Zoneless), 1–9 fraction digits, a space for the
//     T, and "/Date(ms)/".
//   - 403 and 409 bodies: "Response body contains a message or status code
//     indicating the reason" (GET Requests; GET RequestSets' 403). The
//     simulator answers "4034 - Request is not yet approved" by default;
//     Editor.SetErrorBodies makes it answer the bare number (4034), the
//     words alone ("Request is not yet approved") or an object. The client
//     reads the sub-code from the number, or, when there is none, from the
//     reference's words (not yet approved 4034, approver only 4033,
//     requestor only 4032, does not have permission 4031, not enough
//     approvers 4035, approved already 4036).
//   - Error objects: ASP.NET's {"Message": "..."} (silent in the reference;
//     third-party descriptions of the API show it). SetErrorBodies
//     (ErrorBodiesObject) answers it; the client reads Message in any case.
//   - Paging wrappers: the reference documents {"TotalCount": n, "Data":
//     [...]} (ManagedAccountContainerModel, "Page of Managed Accounts", on
//     GET QuickRules/{id}/ManagedAccounts,
//     https://docs.beyondtrust.com/bips/reference/get-api-public-v3-quickrules-quickruleid-managedaccounts.md;
//     BeyondTrust's Go library reads the same wrapper from Secrets Safe
//     v3.2). GET ManagedAccounts (the requestable list: limit default 1000,
//     offset default 0, https://docs.beyondtrust.com/bips/reference/managed-accounts)
//     is not documented with it, so the simulator keeps the array (and the
//     single object for systemName+accountName) that BeyondTrust's library
//     expects; the client takes an array, a single object or the wrapper
//     wherever it reads a list.
//   - Request bodies: the reference's POST Requests body is JSON with
//     int32 and "int32 | null" fields and ConflictOption "reuse"/"renew"
//     (https://docs.beyondtrust.com/bips/reference/requests); Checkin takes
//     an optional {"Reason"} up to 1000 characters
//     (https://docs.beyondtrust.com/bips/v26.1/reference/put-api-public-v3-requests-id-checkin).
//     Which other content types the server reads, and whether it reads
//     numbers sent as strings, the reference does not show (silent): the
//     simulator tolerates what an ASP.NET server with Json.NET and the form
//     formatter does — application/json, text/json, application/*+json,
//     application/x-www-form-urlencoded, and numbers and booleans as strings
//     ("SystemID": "11") — on POST Requests, POST Aliases/{id}/Requests,
//     POST ISARequests and the Reason of Checkin, Approve and Deny; other
//     types answer 415. The client always sends JSON with numbers.
//   - OAuth: "Request must have content type
//     application/x-www-form-urlencoded"
//     (https://docs.beyondtrust.com/bips/reference/password-safe-oauth-proxy):
//     the simulator requires it, the client sends it.
//
// # Where the documentation is silent
//
// The simulator makes these choices; a client must not depend on the ones
// marked (sim), which a real server may do differently.
//
// Wire format
//   - Error bodies are JSON strings (Editor.SetErrorBodies: other forms).
//     403 and 409 bodies start with the sub-code: "4034 - Request is not yet approved", "4091 - Conflicting
//     request exists. …". 400 and 404 bodies are plain messages.
//   - No body ends with a newline: POST Requests answers exactly 1001, GET
//     Credentials exactly "the-password" (clients that use the raw body, like
//     BeyondTrust's library, depend on it).
//   - Dates are RFC 3339 / ISO-8601 in UTC ("2026-11-22T12:58:19Z"); a date
//     that does not exist (ApprovedDate of a pending request, NextChangeDate)
//     is null.
//   - GET Requests Status values are lowercase: "pending", "active" (sim;
//     Editor.SetStatusWords changes them).
//   - Request IDs start at 1001 and grow by one, so they never collide with
//     account IDs in tests (sim).
//   - Paths and query parameter names match case-insensitively; a trailing
//     "/" is ignored. An unknown path answers 404, a known path with another
//     method 405 with Allow. Request bodies over 1 MiB answer 413.
//
// Authentication and sessions
//   - PS-Auth: "key=..; runas=..; pwd=[..];" with or without spaces, final
//     ";" optional, parameter names case-insensitive; the password is
//     everything between "pwd=[" and the last "]". The user name matches
//     case-insensitively. pwd is ignored by a registration that does not
//     require it.
//   - Bad key, unknown or missing runas, missing or wrong pwd, bad or
//     expired bearer token, or another scheme: 401.
//   - LicenseInvalid: SignAppin answers 403 before looking at credentials.
//     APIDisabled: every API path answers 410 (the token endpoint too).
//   - The session cookie is ASP.NET_SessionId (HttpOnly, Path=/, Secure over
//     TLS). A session expires after SessionIdleMinutes (default 20) without a
//     call, on the simulator's clock; at exactly 20 minutes it has expired.
//   - POST Auth/Signout answers 200 even without a live session.
//   - Client certificates (BeyondTrust documents only that a registration
//     with "Client Certificate Required" needs a certificate signed by a CA
//     the server trusts, and that others ignore certificates): the TLS
//     handshake of NewTLSServer asks for one without requiring or checking
//     it; SignAppin with an APIRegistration.RequireClientCert answers 401
//     when the connection presented none, or one that Server.ClientCA did
//     not issue, that is expired or not yet valid on the simulator's clock,
//     or that lacks the clientAuth extended key usage (sim: the messages,
//     and checking at sign-in only). Over plain HTTP such a registration
//     never signs in. OAuth clients have no certificate requirement (sim).
//   - OAuth: POST Auth/connect/token takes client_id/client_secret in the
//     form or as HTTP Basic; a form content type is required (else 400
//     invalid_request), grant_type must be client_credentials (else 400
//     unsupported_grant_type); a bad client answers 401 {"error":
//     "invalid_client"}. Tokens live 3600 s on the simulator's clock.
//     Editor.ExpireSessions does not revoke tokens; Editor.ExpireTokens does.
//
// Roles and permissions
//   - Users hold roles: requestor, approver, requestor/approver, isa. A user
//     may request an account when they hold a requestor role and the
//     account's policy lists them (no list = every requestor).
//   - POST Requests by a user with no requestor role but an approver role:
//     403 4033; by a user with neither (an ISA-only user): 403 4031.
//   - Approve/Deny by a user with no approver role (a pure requestor): 403
//     4032; by an approver who is not an approver of the account: 403 4031;
//     of one's own request: 403 4033.
//   - GET Requests?queue=app by a user with no approver role: 403 4033.
//   - 4035 when the policy needs more approvals than there are approvers
//     other than the requestor.
//   - GET ManagedAccounts and GET Aliases show only API-enabled accounts the
//     user may request, approve or reach as ISA.
//
// Requests
//   - Check order for POST Requests: 415 (Content-Type must be JSON or a
//     form, see above; parameters such as charset are accepted), 400
//     (body: malformed JSON, missing SystemID/AccountID, DurationMinutes not in 1–525600, Reason > 1000, TicketNumber > 20,
//     unknown AccessType or ConflictOption, App without ApplicationID), 403
//     4031 (unknown system or account, account not on the system, API access
//     disabled, no permission), 4033, 4035, then 400 when DurationMinutes
//     exceeds the account's MaximumReleaseDuration or the ApplicationID is
//     not the account's, then 409. A rejected request changes nothing.
//   - Access types and ConflictOption match case-insensitively. App access
//     is not accepted through an alias (the alias page lists View, RDP, SSH).
//   - Conflicts: the same user's pending or active request for the account
//     (any access type) conflicts; on an Exclusive account any other user's
//     active request conflicts too. Without ConflictOption: 409.
//   - reuse answers 200 with the same user's newest active request for the
//     account with the same access type (and application); if there is none
//     the request is created as if no option had been given (so a remaining
//     conflict still answers 409).
//   - renew checks in the same user's active requests for the account
//     (CheckinReason "renewed", rotating as a check-in would) and creates the
//     new one. A pending request of the user, or another user's checkout of
//     an exclusive account, still answers 409, and then nothing was
//     cancelled.
//   - Auto-approve (RequiredApprovals 0): active at once, ApprovedAt = now,
//     ExpiresAt = now + duration. Otherwise pending until that many distinct
//     approvers approved; the duration counts from the final approval. A
//     pending request nobody approves lapses to "expired" at the end of its
//     window (CreatedAt + duration), without rotation.
//   - Check-in, expiry, deny of an active request and renew rotate the
//     password when the request's RotateOnCheckin is true (the default) and
//     the account rotates (not DisableRotation). A rotated password is 24
//     random characters with upper, lower, digit and symbol (never a quote
//     or backslash). DSS keys and passphrases never rotate.
//     AccessPolicyScheduleID is accepted and ignored; every policy allows
//     the rotation override.
//   - Owner checks come before state checks: another user's request answers
//     403 4031 even if it has ended; then pending answers 403 4034 (Checkin,
//     Credentials), then ended or unknown answers 404.
//   - Approve: unknown 404; role checks; own 4033; ended 404; active or
//     already approved by the caller 4036. Deny works on pending and active
//     requests ("denied"; the reason is kept as CheckinReason).
//   - RotateOnCheckin: owner only (4031), works on pending and active
//     requests, 404 once ended.
//   - Checkin, Approve and Deny take an optional {"Reason"} (> 1000
//     characters: 400); a non-empty body must be JSON or a form (else 415).
//   - GET Requests: status all|active|pending, queue req|app (else 400).
//     req = the caller's own pending and active requests; app = other users'
//     pending requests on accounts the caller approves, plus active ones the
//     caller approved. Sorted by ID.
//
// Credentials and discovery
//   - GET Credentials ?type= is case-insensitive; an unknown type answers
//     400; dsskey on an account without a key, or passphrase on an account
//     without an encrypted key, answers 400 (the request itself is fine).
//   - GET Aliases/{aid}/Credentials/{rid}: unknown alias 404; a request for
//     another account than the alias's 404; otherwise as GET Credentials.
//     Only the asked property is filled; the others are "".
//   - GET ManagedAccounts: with both systemName and accountName, one object
//     or 404 "Managed Account not found"; otherwise a page: with limit or
//     offset given, {"TotalCount": n, "Data": [...]} (n counts every match,
//     the reference's paged shape; sim: offset alone wraps too), without
//     them a bare array (the first 1000), [] when nothing matches. limit
//     (default 1000, >= 1), offset (>= 0), systemID must be integers (else
//     400). type: system, recent, database, cloud
//     (no filter), domainlinked (systems with a domain), application
//     (accounts with an application); anything else 400.
//     workgroupName matches the system's workgroup ("BeyondTrust Workgroup"
//     by default). PlatformID defaults to 1 with a domain, else 4.
//   - GET ManagedSystems: every managed system to any signed-in user (sim:
//     Password Safe requires "Password Safe System Management (Read)" and
//     answers 403 without it; the simulator has no feature permissions).
//     name matches the system name exactly, case-insensitively; type is the
//     entity type (1 asset, 2 database, 3 directory, 4 cloud; every
//     simulated system is an asset: EntityTypeID 1, AssetID = its ID (sim));
//     paged as ManagedAccounts ({TotalCount, Data} with limit or offset), but
//     without limit every system (sim: the reference gives no default).
//     WorkgroupID numbers workgroups by first appearance; DnsName is the
//     name (name.domain, lowercase, with a domain, whose upper-case name is
//     NetBiosName); the policy properties are fixed (sim).
//   - GET Aliases?name= and the deprecated GET Aliases/{name} answer one
//     object or 404 "Alias not found". Aliases carry AliasState (the mapped
//     state, also MappedAccounts[].Status); only states 1 and 2 can be
//     requested (else 403 4031).
//   - POST ISARequests: the user needs the ISA role on the system (else 403
//     4031); DurationMinutes defaults to the account's default release
//     duration; the answer is 201 {"Credentials": "..."} and an active View
//     request is recorded (reused while it lasts).
//   - Secrets Safe (secrets.go): GET Secrets-Safe/Folders, GET
//     Secrets-Safe/Secrets (path, title, separator, afterDate, limit,
//     offset, decrypt; version=3.2 answers {TotalCount, Data}, older
//     versions a bare array), GET Secrets-Safe/Secrets/{id} and its
//     file/download. Users need User.SecretsSafe (else 403) and read the
//     folders shared with them (Folder.Readers) and those below.
//
// Simulator behaviour
//   - The clock starts at NewServer's wall time (whole seconds, UTC) and
//     moves only with Advance (or UseRealClock). Expiries are swept on every
//     call and on Advance, in order, each at its own ExpiresAt.
//   - Faults: the first matching fault that fires applies; Count counts
//     firings (with Rate, up to Count firings at that probability); Count 0
//     lasts until Faults.Clear. Latency runs before the handler and gives up
//     silently when the client does. Drop resets the TCP connection (aborts
//     the stream on HTTP/2). Injected statuses answer "pstest: injected
//     fault". Every API call is counted under its canonical endpoint, faults
//     included; unknown paths and /_pstest/ are not counted.
//   - The server remembers the newest DefaultHistory (100000) ended requests
//     (Editor.SetHistory); older ones vanish from Inspector.Requests, with
//     no API-visible
//     difference.
package pstest
