/*
 * manifest.c - a set's manifest (target.h, "manifests"; docs/formats.md, "Manifest"): the
 * struct, the writer and the strict reader (jansson through dvjson.h, then the schema check).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvjson.h"
#include "fsb.h"
#include "manifest.h"
#include "target.h"
#include "util.h"

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- manifest: struct -------------------------------------------------------------- */

void manifest_init(struct manifest *m)
{
    memset(m, 0, sizeof *m);
    m->version = MANIFEST_VERSION;
}

static void db_done(struct manifest_db *d)
{
    free(d->db_path);
    free(d->path);
    free(d->replica_id);
    free(d->dbiid);
    free(d->delta_path);
    free(d->kind);
    free(d->origin);
    free(d->pagemap);
    free(d->full_reason);
}

void manifest_done(struct manifest *m)
{
    if (!m)
        return;
    free(m->origin);
    free(m->checkpoint);
    free(m->message);
    free(m->config.data_dir);
    free(m->config.daos_dir);
    free(m->config.snapshot_command);
    for (size_t i = 0; i < m->ndbs; i++)
        db_done(&m->dbs[i]);
    free(m->dbs);
    for (size_t i = 0; i < m->nfailed; i++) {
        free(m->failed[i].db_path);
        free(m->failed[i].reason);
    }
    free(m->failed);
    manifest_init(m);
}

static char *dup_or_null(const char *s)
{
    return s ? dv_strdup(s) : NULL;
}

void manifest_add_failed(struct manifest *m, const char *db_path, const char *reason)
{
    m->failed = dv_realloc(m->failed, (m->nfailed + 1) * sizeof *m->failed);
    m->failed[m->nfailed].db_path = dv_strdup(db_path ? db_path : "");
    m->failed[m->nfailed].reason = dv_strdup(reason ? reason : "");
    m->nfailed++;
}

void manifest_add_db(struct manifest *m, const struct manifest_db *d)
{
    if ((m->ndbs & (m->ndbs - 1)) == 0) /* grow at powers of two */
        m->dbs = dv_realloc(m->dbs, (m->ndbs ? m->ndbs * 2 : 1) * sizeof *m->dbs);
    struct manifest_db *c = &m->dbs[m->ndbs++];
    *c = *d;
    c->db_path = dup_or_null(d->db_path);
    c->path = dup_or_null(d->path);
    c->replica_id = dup_or_null(d->replica_id);
    c->dbiid = dup_or_null(d->dbiid);
    c->delta_path = dup_or_null(d->delta_path);
    c->kind = dup_or_null(d->kind);
    c->origin = dup_or_null(d->origin);
    c->pagemap = dup_or_null(d->pagemap);
    c->full_reason = dup_or_null(d->full_reason);
}

/* ---- manifest: JSON writer (jansson) ------------------------------------------------- */

char *manifest_to_json(const struct manifest *m, const char *status, size_t *len)
{
    json_t *root = dvjson_obj();
    int version = m->version ? m->version : MANIFEST_VERSION;
    if (m->nfailed && version < MANIFEST_VERSION_PARTIAL)
        version = MANIFEST_VERSION_PARTIAL; /* an older dvault refuses it with a clear message */
    dvjson_set(root, "dvault_manifest", dvjson_int(version));
    dvjson_set(root, "id", dvjson_str(m->id));
    dvjson_set(root, "seq", dvjson_int(m->seq));
    dvjson_set(root, "kind", dvjson_str(m->kind[0] ? m->kind : "full"));
    dvjson_set(root, "status", dvjson_str(status ? status : m->status));
    dvjson_set(root, "started", dvjson_int(m->started));
    dvjson_set(root, "ended", dvjson_int(m->ended));
    dvjson_set(root, "origin", dvjson_str(m->origin));
    dvjson_set(root, "checkpoint", dvjson_str(m->checkpoint));
    dvjson_set(root, "message", dvjson_str(m->message));
    json_t *cfg = dvjson_obj();
    dvjson_set(cfg, "data_dir", dvjson_str(m->config.data_dir));
    dvjson_set(cfg, "daos_dir", dvjson_str(m->config.daos_dir));
    dvjson_set(cfg, "delta", dvjson_str(m->config.delta[0] ? m->config.delta : "apply"));
    dvjson_set(cfg, "encryption", json_boolean(m->config.encryption));
    dvjson_set(cfg, "min_object_size", dvjson_int(m->config.min_object_size));
    dvjson_set(cfg, "max_files_per_subdir", dvjson_int(m->config.max_files_per_subdir));
    dvjson_set(cfg, "snapshot_command", dvjson_str(m->config.snapshot_command));
    dvjson_set(root, "config", cfg);
    json_t *counts = dvjson_obj();
    dvjson_set(counts, "databases", dvjson_int(m->databases));
    dvjson_set(counts, "nlo_new", dvjson_int(m->nlo_new));
    dvjson_set(counts, "nlo_held", dvjson_int(m->nlo_held));
    dvjson_set(counts, "nlo_skipped", dvjson_int(m->nlo_skipped));
    dvjson_set(counts, "deltas_applied", dvjson_int(m->deltas_applied));
    dvjson_set(counts, "deltas_kept", dvjson_int(m->deltas_kept));
    dvjson_set(counts, "bytes", dvjson_int(m->bytes));
    if (m->pages_total) {
        dvjson_set(counts, "pages_total", dvjson_int(m->pages_total));
        dvjson_set(counts, "pages_stored", dvjson_int(m->pages_stored));
    }
    dvjson_set(root, "counts", counts);
    json_t *dbs = dvjson_arr();
    for (size_t i = 0; i < m->ndbs; i++) {
        const struct manifest_db *d = &m->dbs[i];
        json_t *o = dvjson_obj();
        dvjson_set(o, "db_path", dvjson_str(d->db_path));
        dvjson_set(o, "path", dvjson_str(d->path));
        dvjson_set(o, "size", dvjson_int((int64_t)d->size));
        dvjson_set(o, "sha256", dvjson_str(d->sha256));
        dvjson_set(o, "page_size", dvjson_int(d->page_size));
        dvjson_set(o, "replica_id", dvjson_str(d->replica_id));
        dvjson_set(o, "dbiid", dvjson_str(d->dbiid));
        dvjson_set(o, "delta", dvjson_str(d->delta_keep ? "keep" : "apply"));
        dvjson_set(o, "delta_pages", dvjson_int(d->delta_pages));
        if (d->delta_keep) {
            dvjson_set(o, "delta_path", dvjson_str(d->delta_path));
            dvjson_set(o, "delta_sha256", dvjson_str(d->delta_sha256));
        }
        dvjson_set(o, "locked_copy", json_boolean(d->locked_copy));
        if (d->pagemap && d->pagemap[0]) {
            dvjson_set(o, "kind", dvjson_str(d->kind ? d->kind : "full"));
            dvjson_set(o, "origin", dvjson_str(d->origin));
            dvjson_set(o, "pages_total", dvjson_int((int64_t)d->pages_total));
            dvjson_set(o, "pages_stored", dvjson_int((int64_t)d->pages_stored));
            dvjson_set(o, "pagemap", dvjson_str(d->pagemap));
            dvjson_set(o, "pagemap_sha256", dvjson_str(d->pagemap_sha256));
            dvjson_set(o, "full_reason", dvjson_str(d->full_reason));
        }
        dvjson_append(dbs, o);
    }
    dvjson_set(root, "databases", dbs);
    if (m->nfailed) { /* partial sets: absent otherwise, so older manifests read as before */
        json_t *fl = dvjson_arr();
        for (size_t i = 0; i < m->nfailed; i++) {
            json_t *o = dvjson_obj();
            dvjson_set(o, "db_path", dvjson_str(m->failed[i].db_path));
            dvjson_set(o, "reason", dvjson_str(m->failed[i].reason));
            dvjson_append(fl, o);
        }
        dvjson_set(root, "failed_databases", fl);
    }
    json_t *nl = dvjson_obj();
    dvjson_set(nl, "file", dvjson_str(m->nlo_list.file));
    dvjson_set(nl, "count", dvjson_int((int64_t)m->nlo_list.count));
    dvjson_set(nl, "sha256", dvjson_str(m->nlo_list.sha256));
    dvjson_set(root, "nlo_new", nl);
    char *s = dvjson_dumps(root, JSON_INDENT(2));
    json_decref(root);
    size_t n = strlen(s); /* with the newline every manifest ends in */
    char *out = dv_realloc(s, n + 2);
    out[n] = '\n';
    out[n + 1] = '\0';
    if (len)
        *len = n + 1;
    return out;
}

/* ---- manifest: reader (jansson, then the schema) ------------------------------------- */

struct schema {
    const char *name; /* for messages */
    char err[512];
};

/* Fail with "<where>: <what>" (the first failure wins). */
__attribute__((format(printf, 3, 4))) static int sfail(struct schema *s, const char *where,
                                                       const char *fmt, ...)
{
    if (s->err[0])
        return -1;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(s->err, sizeof s->err, "%s%s%s", where, where[0] ? ": " : "", msg);
    return -1;
}

/* where + key: "databases[3].size" */
static void kpath(char *out, size_t n, const char *where, const char *key)
{
    snprintf(out, n, "%s%s%s", where, where[0] ? "." : "", key);
}

static const char *jtype_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static const json_t *need(struct schema *s, const json_t *o, const char *where, const char *key,
                          json_type t, const char *tname)
{
    char p[160];
    kpath(p, sizeof p, where, key);
    const json_t *v = json_object_get(o, key);
    if (!v) {
        sfail(s, where, "missing key \"%s\"", key);
        return NULL;
    }
    bool ok = t == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == t;
    if (!ok) {
        sfail(s, p, "must be %s, not %s", tname, jtype_name(v));
        return NULL;
    }
    return v;
}

static int get_int(struct schema *s, const json_t *o, const char *where, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    const json_t *v = need(s, o, where, key, JSON_INTEGER, "an integer");
    if (!v)
        return -1;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        char p[160];
        kpath(p, sizeof p, where, key);
        return sfail(s, p, "%lld out of range %lld..%lld", (long long)i, (long long)min,
                     (long long)max);
    }
    *out = (int64_t)i;
    return 0;
}

/* A string into a malloc'd copy (*out) or a fixed buffer (fixed/n). */
static int get_str(struct schema *s, const json_t *o, const char *where, const char *key,
                   char **out, char *fixed, size_t n)
{
    const json_t *v = need(s, o, where, key, JSON_STRING, "a string");
    if (!v)
        return -1;
    const char *str = json_string_value(v);
    size_t l = json_string_length(v);
    if (fixed) {
        if (l >= n) {
            char p[160];
            kpath(p, sizeof p, where, key);
            return sfail(s, p, "too long (%zu bytes, at most %zu)", l, n - 1);
        }
        memcpy(fixed, str, l + 1);
    } else {
        free(*out);
        *out = dv_strdup(str);
    }
    return 0;
}

static int get_bool(struct schema *s, const json_t *o, const char *where, const char *key,
                    bool *out)
{
    const json_t *v = need(s, o, where, key, JSON_TRUE, "a boolean");
    if (!v)
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int check(struct schema *s, const char *where, const char *key, bool ok, const char *what)
{
    if (ok)
        return 0;
    char p[160];
    kpath(p, sizeof p, where, key);
    return sfail(s, p, "%s", what);
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0);
}

static bool page_size_ok(int64_t p)
{
    return p == 0 || (p >= 512 && p <= 65536 && (p & (p - 1)) == 0);
}

static int from_db(struct schema *s, const json_t *o, const char *w, struct manifest_db *d)
{
    if (!json_is_object(o))
        return sfail(s, w, "a database entry must be an object, not %s", jtype_name(o));
    int64_t size, page, pages;
    char delta[8];
    if (get_str(s, o, w, "db_path", &d->db_path, NULL, 0) ||
        get_str(s, o, w, "path", &d->path, NULL, 0) ||
        get_int(s, o, w, "size", 0, MANIFEST_INT_MAX, &size) ||
        get_str(s, o, w, "sha256", NULL, d->sha256, sizeof d->sha256) ||
        get_int(s, o, w, "page_size", 0, 65536, &page) ||
        get_str(s, o, w, "replica_id", &d->replica_id, NULL, 0) ||
        get_str(s, o, w, "dbiid", &d->dbiid, NULL, 0) ||
        get_str(s, o, w, "delta", NULL, delta, sizeof delta) ||
        get_int(s, o, w, "delta_pages", 0, UINT32_MAX, &pages) ||
        get_bool(s, o, w, "locked_copy", &d->locked_copy))
        return -1;
    d->size = (uint64_t)size;
    d->page_size = (uint32_t)page;
    d->delta_pages = (uint32_t)pages;
    if (check(s, w, "db_path", dv_path_is_safe_rel(d->db_path), "unsafe path") ||
        check(s, w, "path", dv_path_is_safe_rel(d->path), "unsafe path") ||
        check(s, w, "sha256", target_sha256_valid(d->sha256), "not a sha256") ||
        check(s, w, "page_size", page_size_ok(page), "not 0 or a power of two 512..65536") ||
        check(s, w, "delta", one_of(delta, "apply", "keep", NULL), "must be apply or keep"))
        return -1;
    d->delta_keep = strcmp(delta, "keep") == 0;
    if (d->delta_keep) {
        if (get_str(s, o, w, "delta_path", &d->delta_path, NULL, 0) ||
            get_str(s, o, w, "delta_sha256", NULL, d->delta_sha256, sizeof d->delta_sha256) ||
            check(s, w, "delta_path", dv_path_is_safe_rel(d->delta_path), "unsafe path") ||
            check(s, w, "delta_sha256", target_sha256_valid(d->delta_sha256), "not a sha256"))
            return -1;
    }
    if (json_object_get(o, "pagemap")) { /* incremental backups */
        int64_t tot, sto;
        char kind[16];
        if (get_str(s, o, w, "kind", NULL, kind, sizeof kind) ||
            get_str(s, o, w, "origin", &d->origin, NULL, 0) ||
            get_int(s, o, w, "pages_total", 0, MANIFEST_INT_MAX, &tot) ||
            get_int(s, o, w, "pages_stored", 0, tot, &sto) ||
            get_str(s, o, w, "pagemap", &d->pagemap, NULL, 0) ||
            get_str(s, o, w, "pagemap_sha256", NULL, d->pagemap_sha256, sizeof d->pagemap_sha256) ||
            get_str(s, o, w, "full_reason", &d->full_reason, NULL, 0) ||
            check(s, w, "kind", one_of(kind, "full", "incremental", NULL),
                  "must be full or incremental") ||
            check(s, w, "pagemap", dv_path_is_safe_rel(d->pagemap), "unsafe path") ||
            check(s, w, "pagemap_sha256", target_sha256_valid(d->pagemap_sha256), "not a sha256") ||
            check(s, w, "origin", !d->origin[0] || target_set_id_valid(d->origin), "not a set id"))
            return -1;
        d->kind = dv_strdup(kind);
        d->pages_total = (uint64_t)tot;
        d->pages_stored = (uint64_t)sto;
    }
    return 0;
}

/* A set id (fixed buffer): length first, so that a long string never reaches the check. */
static int get_set_id(struct schema *s, const json_t *o, const char *where, const char *key,
                      char *out, size_t n)
{
    if (get_str(s, o, where, key, NULL, out, n) != 0)
        return -1;
    return check(s, where, key, target_set_id_valid(out), "not a set id");
}

/* "failed_databases": partial sets (absent in older manifests: none failed) */
static int from_failed(struct schema *s, const json_t *root, struct manifest *m)
{
    const json_t *fl = json_object_get(root, "failed_databases");
    if (!fl)
        return 0;
    if (!(fl = need(s, root, "", "failed_databases", JSON_ARRAY, "an array")))
        return -1;
    size_t nfl = json_array_size(fl);
    if (nfl)
        m->failed = dv_calloc(nfl, sizeof *m->failed);
    /* "copied and failed at once": the copied paths sorted once, each failed one looked
     * up (n log n, not n * m) */
    const char **copied = dv_malloc((m->ndbs ? m->ndbs : 1) * sizeof *copied);
    for (size_t k = 0; k < m->ndbs; k++)
        copied[k] = m->dbs[k].db_path;
    if (m->ndbs)
        qsort(copied, m->ndbs, sizeof *copied, str_cmp);
    int rc = 0;
    for (size_t i = 0; i < nfl && rc == 0; i++) {
        const json_t *o = json_array_get(fl, i);
        char w[64];
        snprintf(w, sizeof w, "failed_databases[%zu]", i);
        if (!json_is_object(o)) {
            rc = sfail(s, w, "a failed database entry must be an object, not %s", jtype_name(o));
            break;
        }
        m->nfailed = i + 1;
        const char *key = NULL;
        if (get_str(s, o, w, "db_path", &m->failed[i].db_path, NULL, 0) ||
            get_str(s, o, w, "reason", &m->failed[i].reason, NULL, 0) ||
            check(s, w, "db_path", dv_path_is_safe_rel(m->failed[i].db_path), "unsafe path"))
            rc = -1;
        else if (m->ndbs && (key = m->failed[i].db_path) &&
                 bsearch(&key, copied, m->ndbs, sizeof *copied, str_cmp))
            rc = check(s, w, "db_path", false, "listed both as copied and as failed");
    }
    free(copied);
    return rc;
}

static int from_tree(struct schema *s, const json_t *root, struct manifest *m)
{
    if (!json_is_object(root))
        return sfail(s, "", "a manifest must be a JSON object, not %s", jtype_name(root));
    int64_t ver;
    if (get_int(s, root, "", "dvault_manifest", 1, INT32_MAX, &ver))
        return -1;
    if (ver > MANIFEST_VERSION_MAX)
        return check(s, "", "dvault_manifest", false, "version newer than this dvault");
    m->version = (int)ver;
    const json_t *cfg, *counts, *dbs, *nl;
    if (get_set_id(s, root, "", "id", m->id, sizeof m->id) ||
        get_int(s, root, "", "seq", 1, MANIFEST_SEQ_MAX, &m->seq) ||
        get_str(s, root, "", "kind", NULL, m->kind, sizeof m->kind) ||
        check(s, "", "kind", one_of(m->kind, "full", "incremental", NULL),
              "must be full or incremental") ||
        get_str(s, root, "", "status", NULL, m->status, sizeof m->status) ||
        check(s, "", "status",
              one_of(m->status, "complete", "failed", "running") ||
                  strcmp(m->status, "partial") == 0,
              "must be complete, partial, failed or running") ||
        get_int(s, root, "", "started", 0, MANIFEST_TIME_MAX, &m->started) ||
        get_int(s, root, "", "ended", 0, MANIFEST_TIME_MAX, &m->ended) ||
        get_str(s, root, "", "origin", &m->origin, NULL, 0) ||
        get_str(s, root, "", "checkpoint", &m->checkpoint, NULL, 0) ||
        get_str(s, root, "", "message", &m->message, NULL, 0))
        return -1;
    if (m->origin[0] && !target_set_id_valid(m->origin))
        return check(s, "", "origin", false, "not a set id");
    if (!(cfg = need(s, root, "", "config", JSON_OBJECT, "an object")) ||
        get_str(s, cfg, "config", "data_dir", &m->config.data_dir, NULL, 0) ||
        get_str(s, cfg, "config", "daos_dir", &m->config.daos_dir, NULL, 0) ||
        get_str(s, cfg, "config", "delta", NULL, m->config.delta, sizeof m->config.delta) ||
        get_bool(s, cfg, "config", "encryption", &m->config.encryption) ||
        get_int(s, cfg, "config", "min_object_size", 0, MANIFEST_INT_MAX,
                &m->config.min_object_size) ||
        get_int(s, cfg, "config", "max_files_per_subdir", 0, INT32_MAX,
                &m->config.max_files_per_subdir) ||
        get_str(s, cfg, "config", "snapshot_command", &m->config.snapshot_command, NULL, 0))
        return -1;
    if (!(counts = need(s, root, "", "counts", JSON_OBJECT, "an object")) ||
        get_int(s, counts, "counts", "databases", 0, MANIFEST_INT_MAX, &m->databases) ||
        get_int(s, counts, "counts", "nlo_new", 0, MANIFEST_INT_MAX, &m->nlo_new) ||
        get_int(s, counts, "counts", "nlo_held", 0, MANIFEST_INT_MAX, &m->nlo_held) ||
        get_int(s, counts, "counts", "nlo_skipped", 0, MANIFEST_INT_MAX, &m->nlo_skipped) ||
        get_int(s, counts, "counts", "deltas_applied", 0, MANIFEST_INT_MAX, &m->deltas_applied) ||
        get_int(s, counts, "counts", "deltas_kept", 0, MANIFEST_INT_MAX, &m->deltas_kept) ||
        get_int(s, counts, "counts", "bytes", 0, MANIFEST_INT_MAX, &m->bytes))
        return -1;
    if (json_object_get(counts, "pages_total") &&
        (get_int(s, counts, "counts", "pages_total", 0, MANIFEST_INT_MAX, &m->pages_total) ||
         get_int(s, counts, "counts", "pages_stored", 0, m->pages_total, &m->pages_stored)))
        return -1;
    if (!(dbs = need(s, root, "", "databases", JSON_ARRAY, "an array")))
        return -1;
    size_t ndbs = json_array_size(dbs);
    if (ndbs) {
        m->dbs = dv_calloc(ndbs, sizeof *m->dbs);
        for (size_t i = 0; i < ndbs; i++) {
            char w[64];
            snprintf(w, sizeof w, "databases[%zu]", i);
            m->ndbs = i + 1;
            if (from_db(s, json_array_get(dbs, i), w, &m->dbs[i]) != 0)
                return -1;
        }
    }
    if (from_failed(s, root, m) != 0)
        return -1;
    if (strcmp(m->status, "partial") == 0 && m->nfailed == 0)
        return check(s, "", "status", false, "partial, but no failed_databases");
    if (strcmp(m->status, "complete") == 0 && m->nfailed)
        return check(s, "", "status", false, "complete, but failed_databases are listed");
    int64_t count;
    if (!(nl = need(s, root, "", "nlo_new", JSON_OBJECT, "an object")) ||
        get_str(s, nl, "nlo_new", "file", NULL, m->nlo_list.file, sizeof m->nlo_list.file) ||
        get_int(s, nl, "nlo_new", "count", 0, MANIFEST_INT_MAX, &count) ||
        get_str(s, nl, "nlo_new", "sha256", NULL, m->nlo_list.sha256, sizeof m->nlo_list.sha256))
        return -1;
    m->nlo_list.count = (uint64_t)count;
    if (m->nlo_list.file[0] &&
        (check(s, "nlo_new", "file",
               dv_path_is_safe_rel(m->nlo_list.file) && !strchr(m->nlo_list.file, '/'),
               "must be a plain file name") ||
         check(s, "nlo_new", "sha256", target_sha256_valid(m->nlo_list.sha256), "not a sha256")))
        return -1;
    return 0;
}

int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m)
{
    manifest_init(m);
    if (len > MANIFEST_MAX) {
        dv_seterr("%s: %zu bytes, more than a manifest may hold (%u): refused", name, len,
                  (unsigned)MANIFEST_MAX);
        return -1;
    }
    json_error_t je;
    memset(&je, 0, sizeof je);
    /* the tree may take MANIFEST_MEM_FACTOR times the text, plus a little: no more */
    size_t limit = MANIFEST_MEM_FACTOR * len + 65536;
    bool too_big = false;
    json_t *root = dvjson_loadb(text, len, limit, &je, &too_big);
    if (!root) {
        char msg[256];
        if (too_big)
            snprintf(msg, sizeof msg,
                     "its JSON tree needs more than %zu bytes of memory (%d times its size "
                     "and 64 KiB): refused",
                     limit, MANIFEST_MEM_FACTOR);
        else
            dvjson_syntax_msg(&je, msg, sizeof msg);
        if (!msg[0])
            snprintf(msg, sizeof msg, "not valid JSON");
        dv_seterr("%s: byte %d: %s", name, je.position, msg);
        return -1;
    }
    struct schema s = {.name = name};
    int rc = from_tree(&s, root, m);
    json_decref(root);
    if (rc != 0) {
        dv_seterr("%s: %s", name, s.err[0] ? s.err : "invalid manifest");
        manifest_done(m);
        return -1;
    }
    return 0;
}

int manifest_read_at(const struct fsb *root, const char *rel, struct manifest *m)
{
    manifest_init(m);
    char *text;
    size_t len;
    if (fsb_read_capped(root, rel, MANIFEST_MAX, &text, &len) != 0)
        return -1;
    char *name = dv_asprintf("%s/%s", fsb_path(root), rel);
    int rc = manifest_parse(name, text, len, m);
    free(name);
    free(text);
    return rc;
}

int manifest_read(const char *path, struct manifest *m)
{
    manifest_init(m);
    char *dir = dv_dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct fsb *root = fsb_open(dir);
    free(dir);
    if (!root)
        return -1;
    int rc = manifest_read_at(root, base, m);
    int e = errno;
    fsb_close(root);
    errno = e;
    return rc;
}
