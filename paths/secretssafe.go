package paths

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/backend"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// The Secrets Safe family: folders, secret lists and secrets read as the
// caller's run-as user. The folder path is part of the Vault path, so
// Vault policies can allow one folder and deny another:
//
//	secrets-safe/folders/                  LIST  every folder (its path is the key)
//	secrets-safe/secrets/<folder path>/    LIST  the secrets of a folder (titles; READ for paging from the CLI)
//	secrets-safe/secret/<folder path>/<title>  READ  one secret with its value
//	secrets-safe/id/<secret GUID>          READ  one secret by ID (no folder in the path)
//
// Reads carry no lease (see secretssafe.go in package backend).

// maxSecretsLimit bounds one page of secrets-safe/secrets/ (Password
// Safe's default page is 1000 too).
const maxSecretsLimit = 1000

const secretsSafeHelpSynopsis = "Read Password Safe's Secrets Safe: folders, secrets (credential, text, file)."

const secretsSafeHelpDescription = `
Reads BeyondTrust Secrets Safe as the caller's run-as user (the config's
run_as, or the user the caller's Vault identity names; see requests/).
Password Safe decides what that user may see; Vault policies decide which
paths a token may call. The folder path is part of the Vault path:

    vault list passwordsafe/secrets-safe/folders
    vault list passwordsafe/secrets-safe/secrets/Team/DB
    vault read passwordsafe/secrets-safe/secret/Team/DB/postgres-admin
    vault read passwordsafe/secrets-safe/id/7e4c9d20-5b13-4f6a-8c02-000000000001

secret/<folder path>/<title> splits at the last "/": the title is what
follows it (a title with a "/" in it is read by ID). A credential secret
answers username and password, a text secret text, a file secret
file_name, size and content_base64 (at most 5 MiB; a larger file is
refused unread). Reads carry no lease: nothing in Password Safe is
checked out, so there is nothing for a revocation to undo.

A policy that allows one folder:

    path "passwordsafe/secrets-safe/secret/Team/DB/*"  { capabilities = ["read"] }
    path "passwordsafe/secrets-safe/secrets/Team/DB/"  { capabilities = ["list"] }

secrets-safe/id/ names no folder: grant it only to tokens that may read
every secret the run-as user can.
`

func secretsSafePaths(engine *backend.Engine) []*framework.Path {
	h := &secretsSafeHandler{engine: engine}
	attrs := func(suffix, item string) *framework.DisplayAttributes {
		return &framework.DisplayAttributes{OperationPrefix: OperationPrefix, OperationSuffix: suffix, ItemType: item}
	}
	num := func(desc, name string) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeInt, Description: desc, Query: true,
			DisplayAttrs: &framework.DisplayAttributes{Name: name}}
	}
	help := strings.TrimSpace(secretsSafeHelpDescription)
	return []*framework.Path{
		{
			Pattern:      "secrets-safe/folders/?$",
			DisplayAttrs: attrs("secrets-safe-folders", "Secrets Safe folder"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     h.folders,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
					Summary:      "List the Secrets Safe folders the run-as user may read (keys are folder paths).",
				},
			},
			HelpSynopsis:    secretsSafeHelpSynopsis,
			HelpDescription: help,
		},
		{
			Pattern:      "secrets-safe/secrets(/" + framework.MatchAllRegex("folder") + ")?$",
			DisplayAttrs: attrs("secrets-safe-secrets", "Secrets Safe secret"),
			Fields: map[string]*framework.FieldSchema{
				"folder": {Type: framework.TypeString, Description: "Folder path, names joined by /; empty: every secret the run-as user may read.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Folder path"}},
				"limit":  num(fmt.Sprintf("Most secrets to return (1 to %d; 0 or unset: Password Safe's default, 1000).", maxSecretsLimit), "Limit"),
				"offset": num("Secrets to skip (paging).", "Offset"),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback:     h.secrets,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "list"},
					Summary:      "List the secrets of a Secrets Safe folder, without their values (keys are titles).",
				},
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.secrets,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "query"},
					Summary:      "List the secrets of a Secrets Safe folder; the same as LIST, for the CLI's read with limit and offset.",
				},
			},
			HelpSynopsis:    secretsSafeHelpSynopsis,
			HelpDescription: help,
		},
		{
			Pattern:      "secrets-safe/secret/" + framework.MatchAllRegex("path"),
			DisplayAttrs: attrs("secrets-safe-secret", "Secrets Safe secret"),
			Fields: map[string]*framework.FieldSchema{
				"path": {Type: framework.TypeString, Required: true, Description: "<folder path>/<title>: the title follows the last /.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Folder path and title"}},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.secretByPath,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
					Summary:      "Read a Secrets Safe secret by folder path and title, with its value (no lease).",
				},
			},
			HelpSynopsis:    secretsSafeHelpSynopsis,
			HelpDescription: help,
		},
		{
			Pattern:      "secrets-safe/id/" + framework.GenericNameRegex("id"),
			DisplayAttrs: attrs("secrets-safe-secret-by-id", "Secrets Safe secret"),
			Fields: map[string]*framework.FieldSchema{
				"id": {Type: framework.TypeString, Required: true, Description: "The secret's GUID.",
					DisplayAttrs: &framework.DisplayAttributes{Name: "Secret ID"}},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback:     h.secretByID,
					DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
					Summary:      "Read a Secrets Safe secret by its GUID, with its value (no lease).",
				},
			},
			HelpSynopsis:    secretsSafeHelpSynopsis,
			HelpDescription: help,
		},
	}
}

type secretsSafeHandler struct{ engine *backend.Engine }

func (h *secretsSafeHandler) session(ctx context.Context, req *logical.Request) (*client.Client, string, error) {
	cl, runAs, _, err := callerSession(ctx, h.engine, req, false)
	return cl, runAs, err
}

func (h *secretsSafeHandler) folders(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if resp := refuseRunAsOverride(req); resp != nil {
		return resp, nil
	}
	cl, _, err := h.session(ctx, req)
	if err != nil {
		return nil, err
	}
	list, err := h.engine.Folders(ctx, cl)
	if err != nil {
		return apiError(req, err)
	}
	keys := make([]string, 0, len(list))
	info := make(map[string]interface{}, len(list))
	for _, f := range list {
		k := f.Path
		if k == "" {
			k = f.ID // a folder whose parent the run-as user cannot see
		}
		if _, dup := info[k]; dup {
			k += "#" + f.ID
		}
		keys = append(keys, k)
		info[k] = map[string]interface{}{
			"id": f.ID, "name": f.Name, "description": f.Description, "parent_id": f.ParentID, "path": f.Path,
		}
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

// folderArg cleans a folder path from the Vault path: no leading or
// trailing /, no empty (or blank) names.
func folderArg(s string) (string, error) {
	s = strings.Trim(s, "/")
	if s == "" {
		return "", nil
	}
	for _, name := range strings.Split(s, "/") {
		if strings.TrimSpace(name) == "" {
			return "", fmt.Errorf("folder path %q has an empty folder name", s)
		}
	}
	return s, nil // lengths and characters: the client checks them
}

func (h *secretsSafeHandler) secrets(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := refuseRunAsOverride(req); resp != nil {
		return resp, nil
	}
	folder, err := folderArg(d.Get("folder").(string))
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	limit, offset := d.Get("limit").(int), d.Get("offset").(int)
	if limit < 0 || limit > maxSecretsLimit {
		return logical.ErrorResponse("limit must be between 1 and %d", maxSecretsLimit), nil
	}
	if offset < 0 {
		return logical.ErrorResponse("offset must not be negative"), nil
	}
	cl, _, err := h.session(ctx, req)
	if err != nil {
		return nil, err
	}
	page, err := h.engine.ListSecrets(ctx, cl, folder, limit, offset)
	if err != nil {
		return apiError(req, err)
	}
	keys := make([]string, 0, len(page.Secrets))
	info := make(map[string]interface{}, len(page.Secrets))
	for _, s := range page.Secrets {
		k := relativeKey(folder, s)
		if _, dup := info[k]; dup {
			k += "#" + s.ID
		}
		keys = append(keys, k)
		info[k] = secretMetadata(s)
	}
	resp := logical.ListResponseWithInfo(keys, info)
	if page.TotalCount >= 0 {
		resp.Data["total_count"] = page.TotalCount
	}
	return resp, nil
}

// relativeKey is the secret's title, prefixed by its folder path below
// folder when Password Safe listed a secret of a subfolder (or its whole
// folder path when it is elsewhere).
func relativeKey(folder string, s client.Secret) string {
	fp := strings.Trim(s.FolderPath, "/")
	switch {
	case fp == "" || strings.EqualFold(fp, folder):
		return s.Title
	case folder != "" && len(fp) > len(folder) && strings.EqualFold(fp[:len(folder)+1], folder+"/"):
		return fp[len(folder)+1:] + "/" + s.Title
	}
	return fp + "/" + s.Title
}

// secretMetadata is what a list shows of a secret (never its value).
func secretMetadata(s client.Secret) map[string]interface{} {
	return map[string]interface{}{
		"id":          s.ID,
		"title":       s.Title,
		"type":        strings.ToLower(s.SecretType),
		"description": s.Description,
		"folder_id":   s.FolderID,
		"folder_path": s.FolderPath,
		"modified_on": s.ModifiedOn,
	}
}

func (h *secretsSafeHandler) secretByPath(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := refuseRunAsOverride(req); resp != nil {
		return resp, nil
	}
	p := d.Get("path").(string)
	i := strings.LastIndex(p, "/")
	if i <= 0 || i == len(p)-1 {
		return logical.ErrorResponse("give the secret as secrets-safe/secret/<folder path>/<title>, got %q", p), nil
	}
	folder, err := folderArg(p[:i])
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	title := p[i+1:]
	cl, runAs, err := h.session(ctx, req)
	if err != nil {
		return nil, err
	}
	s, err := h.engine.SecretByPath(ctx, cl, runAs, folder, title)
	if err != nil {
		return apiError(req, err)
	}
	return secretResponse(s), nil
}

func (h *secretsSafeHandler) secretByID(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := refuseRunAsOverride(req); resp != nil {
		return resp, nil
	}
	id := d.Get("id").(string)
	if !client.ValidGUID(id) {
		return logical.ErrorResponse("id must be a secret's GUID (8-4-4-4-12 hexadecimal digits)"), nil
	}
	cl, _, err := h.session(ctx, req)
	if err != nil {
		return nil, err
	}
	s, err := h.engine.SecretByID(ctx, cl, id)
	if err != nil {
		return apiError(req, err)
	}
	return secretResponse(s), nil
}

// secretResponse is a secret with its value, and no lease.
func secretResponse(s *backend.SecretRead) *logical.Response {
	data := secretMetadata(s.Secret)
	data["notes"] = s.Secret.Notes
	switch {
	case s.File != nil:
		data["file_name"] = s.File.FileName
		data["size"] = len(s.File.Content)
		data["content_base64"] = base64.StdEncoding.EncodeToString(s.File.Content)
	case strings.EqualFold(s.Secret.SecretType, client.SecretTypeCredential):
		data["username"] = s.Secret.Username
		data["password"] = s.Secret.Password
	default: // text, and any type this engine does not know
		data["text"] = s.Secret.Password
	}
	return &logical.Response{Data: data}
}
