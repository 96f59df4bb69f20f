package paths

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

const systemsHelpSynopsis = "Discover Password Safe managed systems (GET ManagedSystems)."

const systemsHelpDescription = `
Lists Password Safe's managed systems, so operators can see what systems
exist before looking for accounts on them (accounts/?system_name=...). Keys
are system names; key_info gives each system's ID, entity type, platform,
workgroup, host and DNS names, address and release durations in minutes.

Filters: name (the system's name, exactly) and type (asset, database,
directory or cloud). Without limit and offset the list is complete: the
engine reads every page (1000 systems a page). With limit (at most 1000) or
offset it is the one page asked for, and total_count is how many systems
match in all. LIST takes the filters as query parameters
(GET ...?list=true&type=database); with the CLI use read:

    vault list passwordsafe/systems
    vault read passwordsafe/systems type=database
    vault read passwordsafe/systems name=db-prod-01
    vault read passwordsafe/accounts system_name=db-prod-01

Password Safe lists managed systems only to users with the "Password Safe
System Management (Read)" feature permission; without it the call answers
403. Calls act as the caller's run-as user (see requests/); when the
caller's identity names no user and config has run_as, the config's run_as
user is used, with a warning.
`

// systemTypes maps the type field to Password Safe's entity types.
var systemTypes = map[string]int{
	"asset": client.EntityAsset, "database": client.EntityDatabase,
	"directory": client.EntityDirectory, "cloud": client.EntityCloud,
}

func systemTypeName(id int) string {
	for k, v := range systemTypes {
		if v == id {
			return k
		}
	}
	return strconv.Itoa(id)
}

// systemPaths is the systems path family.
func systemPaths(engine *backend.Engine) []*framework.Path {
	h := &systemsHandler{engine: engine}
	return []*framework.Path{discoveryPath("systems", "Managed system", map[string]*framework.FieldSchema{
		"name": queryField(framework.TypeString, "Only the managed system of this name.", "System name"),
		"type": {Type: framework.TypeLowerCaseString, Description: "Only systems of this entity type.", Query: true,
			AllowedValues: []interface{}{"asset", "database", "directory", "cloud"},
			DisplayAttrs:  &framework.DisplayAttributes{Name: "Entity type"}},
	}, h.list, "List Password Safe's managed systems", systemsHelpSynopsis, systemsHelpDescription)}
}

type systemsHandler struct{ engine *backend.Engine }

// systemsQuery reads and checks the filters before anything is sent.
func systemsQuery(d *framework.FieldData) (client.ManagedSystemsQuery, error) {
	var q client.ManagedSystemsQuery
	if v, ok := d.GetOk("name"); ok && v.(string) != "" {
		if err := ValidateName("name", v.(string)); err != nil {
			return q, err
		}
		q.Name = v.(string)
	}
	if v, ok := d.GetOk("type"); ok && v.(string) != "" {
		t, known := systemTypes[v.(string)]
		if !known {
			return q, fmt.Errorf("type must be asset, database, directory or cloud, got %q", v.(string))
		}
		q.Type = t
	}
	var err error
	q.Limit, q.Offset, err = pagingArgs(d)
	return q, err
}

func intOrNil(p *int) interface{} {
	if p == nil {
		return nil
	}
	return *p
}

func systemData(s *client.ManagedSystem) map[string]interface{} {
	return map[string]interface{}{
		"system_id":            s.ManagedSystemID,
		"system_name":          s.SystemName,
		"entity_type":          systemTypeName(s.EntityTypeID),
		"asset_id":             intOrNil(s.AssetID),
		"database_id":          intOrNil(s.DatabaseID),
		"directory_id":         intOrNil(s.DirectoryID),
		"cloud_id":             intOrNil(s.CloudID),
		"workgroup_id":         intOrNil(s.WorkgroupID),
		"platform_id":          s.PlatformID,
		"host_name":            s.HostName,
		"dns_name":             s.DnsName,
		"ip_address":           s.IPAddress,
		"instance_name":        s.InstanceName,
		"forest_name":          s.ForestName,
		"netbios_name":         s.NetBiosName,
		"port":                 intOrNil(s.Port),
		"description":          s.Description,
		"contact_email":        s.ContactEmail,
		"release_duration":     s.ReleaseDuration,
		"max_release_duration": s.MaxReleaseDuration,
		"isa_release_duration": s.ISAReleaseDuration,
		"auto_management":      s.AutoManagementFlag,
		"is_application_host":  s.IsApplicationHost,
		"access_url":           s.AccessURL,
	}
}

func (h *systemsHandler) list(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	q, err := systemsQuery(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	cl, runAs, warnings, err := callerSession(ctx, h.engine, req, true)
	if err != nil {
		return nil, err
	}
	list, total, err := pageOf(ctx, q, q.Limit, q.Offset, cl.AllManagedSystems, cl.ManagedSystems)
	switch {
	case client.IsNotFound(err): // nothing matches
	case client.StatusCode(err) == http.StatusForbidden:
		return nil, logical.CodedError(http.StatusForbidden, fmt.Sprintf(
			"cannot list managed systems as run-as user %q: Password Safe lists them only to users with the "+
				"\"Password Safe System Management (Read)\" feature permission (give it to a group of the user in "+
				"BeyondInsight, or use accounts/, which needs only the requestor role): %v", runAs, err))
	case err != nil:
		return nil, UpstreamError(fmt.Sprintf("list managed systems as run-as user %q", runAs), err)
	}
	l := newKeyedList(len(list))
	for i := range list {
		l.add(list[i].SystemName, strconv.Itoa(list[i].ManagedSystemID), systemData(&list[i]))
	}
	return l.response(total, warnings), nil
}
