/*
 * target_id.c - the target's identity (target.json): written once by `dvault target init`,
 * checked by every command that uses the target, and the binding between a catalog and the
 * target it describes. Format in docs/formats.md ("Target identity").
 */
#include "target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "dvjson.h"
#include "fsb.h"
#include "target_priv.h"
#include "util.h"

#define INIT_HINT "create a target with `dvault target init`"

/* Names a dvault target of an earlier version (before identities) may hold at its root. */
static bool legacy_name(const char *n)
{
    return strcmp(n, "lock") == 0 || strcmp(n, "sets") == 0 || strcmp(n, "nlo") == 0 ||
           strcmp(n, "archive") == 0;
}

/* What a directory without an identity holds: 0 nothing (lost+found aside), 1 only dvault's
 * names with sets/ or nlo/ among them, 2 anything else (first such name into other). */
static int classify(const struct fsb *root, char *other, size_t n)
{
    DIR *d = fsb_opendir(root, ".");
    if (!d)
        return -1;
    int kind = 0;
    bool layout = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strcmp(nm, "lost+found") == 0)
            continue;
        if (legacy_name(nm)) {
            if (strcmp(nm, "sets") == 0 || strcmp(nm, "nlo") == 0)
                layout = true;
            if (kind == 0)
                kind = 1;
            continue;
        }
        kind = 2;
        snprintf(other, n, "%s", nm);
        break;
    }
    closedir(d);
    if (kind == 1 && !layout)
        kind = 2, snprintf(other, n, "lock");
    return kind;
}

static bool lhex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == '\0';
}

/* Parse the identity text; name for messages. 0 or -1. */
int target_ident_parse(const char *name, const char *text, size_t len, struct target_identity *id)
{
    json_error_t je;
    json_t *root = dvjson_loadb(text, len, 0, &je, NULL); /* at most TARGET_ID_MAX bytes */
    if (!root) {
        char msg[256];
        dvjson_syntax_msg(&je, msg, sizeof msg);
        dv_seterr("%s: line %d: %s", name, je.line, msg);
        return -1;
    }
    int rc = -1;
    const char *format = NULL, *tid = NULL, *host = NULL, *data_dir = NULL;
    json_int_t version = 0, created = 0;
    if (json_unpack_ex(root, &je, 0, "{s:s, s:I, s:s, s:I, s:{s:s, s:s}}", "format", &format,
                       "version", &version, "id", &tid, "created", &created, "server", "host",
                       &host, "data_dir", &data_dir) != 0) {
        dv_seterr("%s: not a dvault target identity: %.120s", name, je.text);
        goto out;
    }
    if (strcmp(format, TARGET_ID_FORMAT) != 0) {
        dv_seterr("%s: not a dvault target identity (format is not \"%s\")", name,
                  TARGET_ID_FORMAT);
        goto out;
    }
    if (version != TARGET_ID_VERSION) {
        dv_seterr(
            "%s: target format version %" JSON_INTEGER_FORMAT " (this dvault reads version %d%s)",
            name, version, TARGET_ID_VERSION, version > TARGET_ID_VERSION ? ": upgrade it" : "");
        goto out;
    }
    if (strlen(tid) != 32 || !lhex(tid, 32)) {
        dv_seterr("%s: \"id\" is not 32 lower-case hex digits", name);
        goto out;
    }
    if (created <= 0 || strlen(host) >= sizeof id->host ||
        strlen(data_dir) >= sizeof id->data_dir) {
        dv_seterr("%s: \"created\", \"host\" or \"data_dir\" out of range", name);
        goto out;
    }
    memset(id, 0, sizeof *id);
    id->version = (int)version;
    memcpy(id->id, tid, 33);
    id->created = created;
    snprintf(id->host, sizeof id->host, "%s", host);
    snprintf(id->data_dir, sizeof id->data_dir, "%s", data_dir);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Read target.json beneath the target (fsb: never following a link, never waiting on a FIFO,
 * at most TARGET_ID_MAX bytes). 0, -1 with a message, or 1 when it does not exist. */
static int ident_read_at(const struct fsb *root, struct target_identity *id)
{
    char *buf = NULL;
    size_t len = 0;
    if (fsb_read_capped(root, TARGET_ID_FILE, TARGET_ID_MAX, &buf, &len) != 0)
        return errno == ENOENT ? 1 : -1;
    char *name = fsb_abs(root, TARGET_ID_FILE);
    int rc = target_ident_parse(name, buf, len, id);
    free(name);
    free(buf);
    return rc;
}

int target_identity_check(const struct fsb *root, struct target_identity *id)
{
    int rc = ident_read_at(root, id);
    if (rc <= 0)
        return rc;
    const char *path = fsb_path(root);
    char other[256] = "";
    switch (classify(root, other, sizeof other)) {
    case 0:
        dv_seterr("backup target %s is empty (is the backup volume mounted?); if it is the new "
                  "target, " INIT_HINT,
                  path);
        break;
    case 1:
        dv_seterr("backup target %s has no identity (made by an earlier dvault): run `dvault "
                  "target init` to adopt it",
                  path);
        break;
    case 2:
        dv_seterr("%s is not a dvault target (no %s; it holds '%.60s'); " INIT_HINT
                  " in an empty directory",
                  path, TARGET_ID_FILE, other);
        break;
    default:
        dv_syserr("backup target %s: read directory", path);
    }
    return -1;
}

/* The target's directory as a root; a missing one is named as the unmounted volume it is. */
static struct fsb *root_open(const char *path)
{
    struct fsb *root = fsb_open(path);
    if (!root && errno == ENOENT)
        dv_seterr("backup target %s does not exist (moved, or the backup volume not "
                  "mounted?); " INIT_HINT,
                  path);
    else if (!root)
        dv_syserr("backup target %s", path);
    return root;
}

int target_identity_read(const char *path, struct target_identity *id)
{
    if (strncmp(path, "s3://", 5) == 0) { /* a caller not yet on target_identity_read_cfg */
        dv_seterr("backup target %s: this command does not work on an S3 target yet", path);
        errno = ENOTSUP;
        return -1;
    }
    struct fsb *root = root_open(path);
    if (!root)
        return -1;
    int rc = target_identity_check(root, id);
    fsb_close(root);
    return rc;
}

char *target_identity_json(const struct target_identity *id)
{
    char when[32];
    time_t tt = (time_t)id->created;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *o =
        json_pack("{s:s, s:i, s:s, s:I, s:s, s:{s:s, s:s}}", "format", TARGET_ID_FORMAT, "version",
                  id->version, "id", id->id, "created", (json_int_t)id->created, "created_utc",
                  when, "server", "host", id->host, "data_dir", id->data_dir);
    if (!o)
        abort(); /* only out of memory: the strings are ours and valid (the config is UTF-8) */
    char *s = dvjson_dumps(o, JSON_INDENT(2));
    json_decref(o);
    char *out = dv_asprintf("%s\n", s);
    free(s);
    return out;
}

void target_ident_new(struct target_identity *id, const char *data_dir)
{
    memset(id, 0, sizeof *id);
    id->version = TARGET_ID_VERSION;
    unsigned char raw[16];
    dv_random(raw, sizeof raw);
    dv_hex(raw, sizeof raw, id->id);
    id->created = dv_now();
    if (gethostname(id->host, sizeof id->host - 1) != 0)
        snprintf(id->host, sizeof id->host, "unknown");
    snprintf(id->data_dir, sizeof id->data_dir, "%s", data_dir ? data_dir : "");
}

int target_init(const char *path, const char *data_dir, struct target_identity *id,
                int *adopted_sets)
{
    if (adopted_sets)
        *adopted_sets = -1;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            dv_syserr("backup target %s", path);
            return -1;
        }
        if (dv_mkdirs(path, 0700) != 0)
            return -1;
    } else if (!S_ISDIR(st.st_mode)) {
        dv_seterr("%s is not a directory: a target is a directory", path);
        return -1;
    }
    struct fsb *root = root_open(path);
    if (!root)
        return -1;
    int rc = -1;
    struct fsb_tmp tmp = {.fd = -1, .dfd = -1};
    bool tmp_open = false;
    struct target_identity have;
    int r = ident_read_at(root, &have);
    if (r == 0) {
        char when[32];
        dv_fmt_time(have.created, when, sizeof when);
        dv_seterr("%s is already a dvault target (id %s, created %s for %s:%s)", path, have.id,
                  when, have.host, have.data_dir);
        goto out;
    }
    if (r < 0) {
        dv_preferr("target init");
        goto out;
    }
    char other[256] = "";
    int kind = classify(root, other, sizeof other);
    if (kind < 0) {
        dv_preferr("backup target %s: read directory", path);
        goto out;
    }
    if (kind == 2) {
        dv_seterr("%s is not empty and not a dvault target (it holds '%.60s'): choose an empty "
                  "directory",
                  path, other);
        goto out;
    }

    target_ident_new(id, data_dir);

    /* Written to a temporary beside it, then renamed without replacing (fsb_tmp, FSB_NOREPLACE:
       two concurrent inits cannot both succeed, and a crash leaves no half identity). */
    if (fsb_tmp_open(root, TARGET_ID_FILE, NULL, 0600, 0, &tmp) != 0)
        goto out;
    tmp_open = true;
    char *json = target_identity_json(id);
    int w = dv_write_all(tmp.fd, json, strlen(json));
    free(json);
    if (w != 0) {
        dv_syserr("target init: write %s", tmp.path);
        goto out;
    }
    if (fsb_mkdir(root, "sets", 0700, true) != 0 || fsb_mkdir(root, "nlo", 0700, true) != 0) {
        dv_preferr("target init");
        goto out;
    }
    if (fsb_tmp_commit(&tmp, FSB_NOREPLACE) != 0) {
        if (errno == EEXIST)
            dv_seterr("%s: another `target init` won the race; run it again to see it", path);
        goto out;
    }
    if (adopted_sets && kind == 1) {
        struct target *t = target_open(path);
        char **ids = NULL;
        size_t n = 0;
        if (t && target_sets_scan(t, &ids, &n) == 0) {
            *adopted_sets = (int)n;
            target_ids_free(ids, n);
        }
        target_close(t);
    }
    rc = 0;
out:
    if (tmp_open)
        fsb_tmp_done(&tmp);
    fsb_close(root);
    return rc;
}

/* ---- the catalog's binding ------------------------------------------------------------ */

int target_bind_catalog(struct target *t, struct catalog *cat)
{
    const struct target_identity *id = target_identity(t);
    char have[64];
    int r = catalog_meta_get(cat, TARGET_ID_META_KEY, have, sizeof have);
    if (r < 0)
        return -1;
    if (r == 1) {
        if (strcmp(have, id->id) == 0)
            return 0;
        dv_seterr("catalog %s belongs to target %s, but %s is target %s: they do not belong "
                  "together (point backup.target back at the catalog's target, or rebuild this "
                  "catalog from this target with `dvault resync catalog`)",
                  catalog_path(cat), have, target_url(t), id->id);
        return -1;
    }
    /* An unbound catalog: new, or from before identities. It binds to this target only when
       the two tell the same story: both without sets, or the catalog's newest set on it.
       Checked and bound in one write transaction: two jobs of two targets starting at once
       on a new catalog cannot both bind it (the second sees the first's binding). */
    if (catalog_begin(cat) != 0)
        return -1;
    r = catalog_meta_get(cat, TARGET_ID_META_KEY, have, sizeof have);
    if (r != 0) {
        catalog_rollback(cat);
        if (r < 0)
            return -1;
        return target_bind_catalog(t, cat); /* bound meanwhile: the check above */
    }
    int64_t nsets = 0;
    if (catalog_set_count(cat, &nsets) != 0) {
        catalog_rollback(cat);
        return -1;
    }
    char **ids = NULL;
    size_t n = 0;
    if (target_sets_scan(t, &ids, &n) != 0) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        catalog_rollback(cat);
        dv_seterr("%s", keep);
        return -1;
    }
    int rc = 0;
    if (nsets == 0 && n > 0) {
        dv_seterr("target %s holds %zu set(s) that catalog %s does not know (a new catalog "
                  "for an existing target?): rebuild the catalog from the target with `dvault "
                  "resync catalog`",
                  target_url(t), n, catalog_path(cat));
        rc = -1;
    } else if (nsets > 0) {
        struct catalog_set s;
        int got = catalog_set_latest(cat, true, &s);
        if (got < 0) {
            rc = -1;
        } else if (got == 1) {
            bool found = false;
            for (size_t i = 0; i < n && !found; i++)
                found = strcmp(ids[i], s.id) == 0;
            if (!found) {
                dv_seterr("catalog %s lists set %s, which target %s does not hold: they do not "
                          "belong together (point backup.target at the catalog's target, or "
                          "rebuild the catalog from this target with `dvault resync catalog`)",
                          catalog_path(cat), s.id, target_url(t));
                rc = -1;
            }
        }
    }
    target_ids_free(ids, n);
    if (rc == 0)
        rc = catalog_meta_set(cat, TARGET_ID_META_KEY, id->id);
    if (rc == 0 && catalog_commit(cat) != 0)
        rc = -1;
    if (rc != 0) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        catalog_rollback(cat);
        dv_seterr("%s", keep);
    }
    return rc;
}
