/*
 * config.c - load config.yaml with the libyaml document API.
 *
 * Each mapping is described by a table of {key, kind, offset, min, max}; a key missing from
 * its table, a value of the wrong node type, an out-of-range number, a duplicate key or a YAML
 * syntax error stops the load with "FILE:LINE:COL: message" (1-based, libyaml's marks).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "util.h"

enum kind { K_STR, K_PATH, K_LONG, K_BOOL, K_DELTA, K_GLOBS, K_MAP };

struct field {
    const char *key;
    enum kind kind;
    size_t off; /* offset in struct dv_config */
    long min, max;
    const struct field *sub; /* K_MAP */
};

#define OFF(m) offsetof(struct dv_config, m)

static const struct field retention_fields[] = {
    {"keep_sets", K_LONG, OFF(backup.keep_sets), 1, 100000, NULL},
    {"keep_days", K_LONG, OFF(backup.keep_days), 0, 36500, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct field server_fields[] = {
    {"data_dir", K_PATH, OFF(server.data_dir), 0, 0, NULL},
    {"databases", K_GLOBS, OFF(server.databases), 0, 0, NULL},
    {"daos_dir", K_PATH, OFF(server.daos_dir), 0, 0, NULL},
    {"max_files_per_subdir", K_LONG, OFF(server.max_files_per_subdir), 1, 1000000, NULL},
    {"min_object_size", K_LONG, OFF(server.min_object_size), 0, 1L << 30, NULL},
    {"deferred_deletion_days", K_LONG, OFF(server.deferred_deletion_days), 0, 36500, NULL},
    {"encryption", K_BOOL, OFF(server.encryption), 0, 0, NULL},
    {"key_file", K_PATH, OFF(server.key_file), 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct field s3_fields[] = {
    {"endpoint", K_STR, OFF(backup.s3.endpoint), 0, 0, NULL},
    {"region", K_STR, OFF(backup.s3.region), 0, 0, NULL},
    {"credentials_file", K_PATH, OFF(backup.s3.credentials_file), 0, 0, NULL},
    {"object_lock_days", K_LONG, OFF(backup.s3.object_lock_days), 0, 36500, NULL},
    {"object_lock_mode", K_STR, OFF(backup.s3.object_lock_mode), 0, 0, NULL},
    {"cache", K_PATH, OFF(backup.s3.cache), 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct field backup_fields[] = {
    {"target", K_PATH, OFF(backup.target), 0, 0, NULL},
    {"cycle_hours", K_LONG, OFF(backup.cycle_hours), 1, 8760, NULL},
    {"delta", K_DELTA, OFF(backup.delta), 0, 0, NULL},
    {"snapshot_command", K_STR, OFF(backup.snapshot_command), 0, 0, NULL},
    {"pre_command", K_STR, OFF(backup.pre_command), 0, 0, NULL},
    {"post_command", K_STR, OFF(backup.post_command), 0, 0, NULL},
    {"lock_wait_seconds", K_LONG, OFF(backup.lock_wait_seconds), 1, 3600, NULL},
    {"retention", K_MAP, 0, 0, 0, retention_fields},
    {"s3", K_MAP, 0, 0, 0, s3_fields},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct field restore_fields[] = {
    {"dir", K_PATH, OFF(restore.dir), 0, 0, NULL},
    {"retention_days", K_LONG, OFF(restore.retention_days), 0, 36500, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct field console_fields[] = {
    {"theme", K_STR, OFF(console.theme), 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct field root_fields[] = {
    {"server", K_MAP, 0, 0, 0, server_fields},     {"backup", K_MAP, 0, 0, 0, backup_fields},
    {"catalog", K_PATH, OFF(catalog), 0, 0, NULL}, {"restore", K_MAP, 0, 0, 0, restore_fields},
    {"console", K_MAP, 0, 0, 0, console_fields},   {NULL, 0, 0, 0, 0, NULL},
};

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = dv_strdup(v);
}

static void free_globs(struct dv_config *cfg)
{
    if (cfg->server.databases) {
        for (size_t i = 0; i < cfg->server.ndatabases; i++)
            free(cfg->server.databases[i]);
        free(cfg->server.databases);
    }
    cfg->server.databases = NULL;
    cfg->server.ndatabases = 0;
}

void dv_config_defaults(struct dv_config *cfg, const char *base_dir)
{
    memset(cfg, 0, sizeof *cfg);
    char *real = realpath(base_dir, NULL);
    cfg->base_dir = real ? real : dv_path_abs(".", base_dir);
    cfg->server.data_dir = dv_path_join(cfg->base_dir, "var/data");
    cfg->server.databases = dv_calloc(2, sizeof(char *));
    cfg->server.databases[0] = dv_strdup("**/*.nsf");
    cfg->server.ndatabases = 1;
    cfg->server.daos_dir = NULL; /* no DAOS unless configured */
    cfg->server.max_files_per_subdir = 40000;
    cfg->server.min_object_size = 4096;
    cfg->server.deferred_deletion_days = 30;
    cfg->server.encryption = true;
    cfg->server.key_file = dv_path_join(cfg->base_dir, "var/server.key");
    cfg->backup.target = dv_path_join(cfg->base_dir, "var/backup");
    cfg->backup.cycle_hours = 24;
    cfg->backup.delta = DV_DELTA_APPLY;
    cfg->backup.snapshot_command = dv_strdup("");
    cfg->backup.pre_command = dv_strdup("");
    cfg->backup.post_command = dv_strdup("");
    cfg->backup.keep_sets = 14;
    cfg->backup.keep_days = 35;
    cfg->backup.lock_wait_seconds = 30;
    cfg->backup.s3.region = dv_strdup("us-east-1");
    cfg->backup.s3.object_lock_mode = dv_strdup("governance");
    cfg->catalog = dv_path_join(cfg->base_dir, "var/catalog.db");
    cfg->restore.rel = dv_strdup("restore");
    cfg->restore.dir = dv_path_join(cfg->server.data_dir, cfg->restore.rel);
    cfg->restore.retention_days = 7;
    cfg->console.theme = dv_strdup("default");
}

void dv_config_done(struct dv_config *cfg)
{
    free(cfg->path);
    free(cfg->base_dir);
    free(cfg->server.data_dir);
    free_globs(cfg);
    free(cfg->server.daos_dir);
    free(cfg->server.key_file);
    free(cfg->backup.target);
    free(cfg->backup.snapshot_command);
    free(cfg->backup.pre_command);
    free(cfg->backup.post_command);
    free(cfg->backup.s3.bucket);
    free(cfg->backup.s3.prefix);
    free(cfg->backup.s3.endpoint);
    free(cfg->backup.s3.region);
    free(cfg->backup.s3.credentials_file);
    free(cfg->backup.s3.cache);
    free(cfg->backup.s3.object_lock_mode);
    free(cfg->catalog);
    free(cfg->restore.dir);
    free(cfg->restore.rel);
    free(cfg->console.theme);
    memset(cfg, 0, sizeof *cfg);
}

struct loader {
    const char *file;
    yaml_document_t *doc;
    struct dv_config *cfg;
    char *daos_raw;    /* daos_dir as written: resolved against data_dir at the end */
    char *restore_raw; /* restore.dir as written: resolved against data_dir at the end */
    /* where data_dir, daos_dir and target are written (NULL: the default), for check_paths */
    yaml_node_t *data_node, *daos_node, *target_node, *restore_node;
    /* backup.s3's keys and keep_days, for the S3 checks' messages */
    yaml_node_t *s3_node[8], *keep_days_node;
    bool target_s3; /* backup.target is "s3://..." (kept as written, parsed at the end) */
};

/* The index of a backup.s3 key in s3_fields (its node in loader.s3_node), or -1. */
static int s3_index(size_t off)
{
    for (int i = 0; s3_fields[i].key; i++)
        if (s3_fields[i].off == off)
            return i;
    return -1;
}

static int node_err(struct loader *l, yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int node_err(struct loader *l, yaml_node_t *n, const char *fmt, ...)
{
    char msg[DV_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dv_seterr("%s:%zu:%zu: %s", l->file, n ? n->start_mark.line + 1 : 1,
              n ? n->start_mark.column + 1 : 1, msg);
    return -1;
}

static const char *kind_name(enum kind k)
{
    switch (k) {
    case K_STR:
    case K_PATH:
    case K_DELTA:
        return "a string";
    case K_LONG:
        return "an integer";
    case K_BOOL:
        return "true or false";
    case K_GLOBS:
        return "a list of globs";
    case K_MAP:
        return "a mapping";
    }
    return "?";
}

static int load_value(struct loader *l, const struct field *f, const char *key, yaml_node_t *v);

static int load_map(struct loader *l, yaml_node_t *map, const struct field *fields,
                    const char *where)
{
    if (map->type != YAML_MAPPING_NODE)
        return node_err(l, map, "%s must be a mapping", where);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(l->doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE)
            return node_err(l, k ? k : map, "keys of %s must be plain names", where);
        const char *key = (const char *)k->data.scalar.value;
        /* duplicate keys are errors, not "last one wins" */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(l->doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE &&
                strcmp((const char *)qk->data.scalar.value, key) == 0)
                return node_err(l, k, "duplicate key '%s' in %s", key, where);
        }
        const struct field *f = NULL;
        for (const struct field *x = fields; x->key; x++)
            if (strcmp(x->key, key) == 0)
                f = x;
        if (!f) {
            char known[256] = "";
            for (const struct field *x = fields; x->key; x++) {
                size_t n = strlen(known);
                snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", x->key);
            }
            return node_err(l, k, "unknown key '%s' in %s (known: %s)", key, where, known);
        }
        if (load_value(l, f, key, v) != 0)
            return -1;
    }
    return 0;
}

static int load_value(struct loader *l, const struct field *f, const char *key, yaml_node_t *v)
{
    char *base = (char *)l->cfg;
    if (f->kind == K_MAP)
        return load_map(l, v, f->sub, key);
    if (f->kind == K_GLOBS) {
        if (v->type != YAML_SEQUENCE_NODE)
            return node_err(l, v, "'%s' must be %s, e.g. [\"**/*.nsf\"]", key, kind_name(f->kind));
        size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n == 0)
            return node_err(l, v, "'%s' must name at least one glob", key);
        char **globs = dv_calloc(n + 1, sizeof(char *));
        size_t i = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *g = yaml_document_get_node(l->doc, *it);
            if (!g || g->type != YAML_SCALAR_NODE || g->data.scalar.length == 0 ||
                g->data.scalar.value[0] == '/') {
                for (size_t j = 0; j < i; j++)
                    free(globs[j]);
                free(globs);
                return node_err(l, g ? g : v,
                                "'%s' entries must be non-empty globs relative to data_dir", key);
            }
            globs[i++] = dv_strdup((const char *)g->data.scalar.value);
        }
        free_globs(l->cfg);
        l->cfg->server.databases = globs;
        l->cfg->server.ndatabases = n;
        return 0;
    }
    if (v->type != YAML_SCALAR_NODE)
        return node_err(l, v, "'%s' must be %s", key, kind_name(f->kind));
    const char *s = (const char *)v->data.scalar.value;
    bool plain = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    int si = f->sub ? -1 : s3_index(f->off);
    if (si >= 0 && f->kind != K_MAP)
        l->s3_node[si] = v;
    if (f->off == OFF(backup.keep_days) && f->kind == K_LONG)
        l->keep_days_node = v;
    if (f->off == OFF(backup.target) && f->kind == K_PATH && strncmp(s, "s3://", 5) == 0) {
        l->target_node = v;
        l->target_s3 = true;
        set_str(&l->cfg->backup.target, s); /* parsed and checked at the end (s3_resolve) */
        return 0;
    }
    if (f->off == OFF(backup.target) && f->kind == K_PATH)
        l->target_s3 = false;
    switch (f->kind) {
    case K_STR:
        set_str((char **)(base + f->off), s);
        return 0;
    case K_PATH:
        if (strcmp(key, "daos_dir") == 0) {
            /* "" (or null): a server without DAOS, as when the key is absent */
            bool none = !*s || (plain && (strcmp(s, "~") == 0 || strcmp(s, "null") == 0));
            set_str(&l->daos_raw, none ? "" : s);
            l->daos_node = v;
            return 0;
        }
        if (!*s)
            return node_err(l, v, "'%s' must not be empty",
                            f->off == OFF(restore.dir) ? "restore.dir" : key);
        if (f->off == OFF(restore.dir)) { /* relative to data_dir: resolved at the end */
            set_str(&l->restore_raw, s);
            l->restore_node = v;
            return 0;
        }
        if (f->off == OFF(server.data_dir))
            l->data_node = v;
        else if (f->off == OFF(backup.target))
            l->target_node = v;
        free(*(char **)(base + f->off));
        *(char **)(base + f->off) = dv_path_join(l->cfg->base_dir, s);
        return 0;
    case K_LONG: {
        long n;
        if (!plain || dv_parse_long(s, -(1L << 62), 1L << 62, &n) != 0)
            return node_err(l, v, "'%s' must be an integer, not '%s'", key, s);
        if (n < f->min || n > f->max)
            return node_err(l, v, "'%s' is %ld, out of range %ld..%ld", key, n, f->min, f->max);
        *(long *)(base + f->off) = n;
        return 0;
    }
    case K_BOOL: {
        static const char *yes[] = {"true", "True", "TRUE", "yes", "on", NULL};
        static const char *no[] = {"false", "False", "FALSE", "no", "off", NULL};
        for (int i = 0; plain && yes[i]; i++)
            if (strcmp(s, yes[i]) == 0)
                return *(bool *)(base + f->off) = true, 0;
        for (int i = 0; plain && no[i]; i++)
            if (strcmp(s, no[i]) == 0)
                return *(bool *)(base + f->off) = false, 0;
        return node_err(l, v, "'%s' must be true or false, not '%s'", key, s);
    }
    case K_DELTA:
        if (strcmp(s, "apply") == 0)
            l->cfg->backup.delta = DV_DELTA_APPLY;
        else if (strcmp(s, "keep") == 0)
            l->cfg->backup.delta = DV_DELTA_KEEP;
        else
            return node_err(l, v, "'%s' must be apply or keep, not '%s'", key, s);
        return 0;
    default:
        return node_err(l, v, "internal: unhandled key '%s'", key);
    }
}

/*
 * A path as the message shows it: as written in the file, or the default's spelling
 * (relative paths are relative to the configuration's directory; daos_dir to data_dir).
 */
static const char *written(yaml_node_t *n, const char *dflt)
{
    return n ? (const char *)n->data.scalar.value : dflt;
}

/*
 * Backups must not land where a backup reads, nor read where they land: a target inside
 * data_dir (or the DAOS directory) is copied into each next backup (4, 8, 16 databases ...),
 * a data_dir inside the target backs up the target, and "/" holds everything. Paths are
 * compared canonically (dv_path_canon: links resolved where they exist, "..", "." removed),
 * so var/data/../data/backup is caught. The error points at the value to change.
 */
static int check_paths(struct loader *l)
{
    const struct dv_config *c = l->cfg;
    char *data = dv_path_canon(c->server.data_dir),
         *daos = c->server.daos_dir ? dv_path_canon(c->server.daos_dir) : NULL,
         *target = dv_path_canon(c->backup.target);
    const char *t = written(l->target_node, "var/backup"), *d = written(l->data_node, "var/data"),
               *o = written(l->daos_node, "daos");
    yaml_node_t *tn = l->target_node ? l->target_node : l->data_node ? l->data_node : l->daos_node;
    yaml_node_t *dn = l->data_node ? l->data_node : l->target_node;
    yaml_node_t *on = l->daos_node ? l->daos_node : l->target_node;
    int rc = 0;
    const char *why = "each backup would copy the earlier ones into itself";
    if (strcmp(target, "/") == 0)
        rc = node_err(l, tn,
                      "'target' is '%s', the root directory: give the backups a directory"
                      " of their own",
                      t);
    else if (strcmp(target, data) == 0)
        rc = node_err(l, tn, "'target' '%s' is the server's data_dir '%s': %s", t, d, why);
    else if (dv_path_within(target, data))
        rc = node_err(l, tn, "'target' '%s' is inside the server's data_dir '%s': %s", t, d, why);
    else if (daos && dv_path_within(target, daos))
        rc = node_err(l, tn, "'target' '%s' is inside the server's daos_dir '%s': %s", t, o, why);
    else if (dv_path_within(data, target))
        rc = node_err(l, dn, "'data_dir' '%s' is inside the backup target '%s': %s", d, t, why);
    else if (daos && dv_path_within(daos, target))
        rc = node_err(l, on, "'daos_dir' '%s' is inside the backup target '%s': %s", o, t, why);
    free(data);
    free(daos);
    free(target);
    return rc;
}

static bool bucket_name_ok(const char *b)
{
    /* S3's rules: 3..63 of a-z 0-9 . -, starting and ending with a letter or digit, no "..",
       not an IP address */
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return false;
    }
    bool alnum_ends = b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
    int a, bb, c, d;
    char tail;
    bool ip = sscanf(b, "%d.%d.%d.%d%c", &a, &bb, &c, &d, &tail) == 4;
    return alnum_ends && !strstr(b, "..") && !strstr(b, ".-") && !strstr(b, "-.") && !ip;
}

static bool prefix_ok(const char *p)
{
    if (!*p)
        return true;
    if (strlen(p) > 512 || !dv_path_is_safe_rel(p))
        return false;
    for (const char *q = p; *q; q++) {
        char c = *q;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("/._-=+", c)))
            return false;
    }
    return true;
}

/*
 * backup.target "s3://BUCKET[/PREFIX]": bucket and prefix into backup.s3, the endpoint
 * required, the lock mode one of two, lock days that keep_days can honour, the cache's
 * default (next to the catalog) and its place (never in data_dir or the DAOS directory).
 */
static int s3_resolve(struct loader *l)
{
    struct dv_config *c = l->cfg;
    yaml_node_t *tn = l->target_node;
#define S3N(m) (l->s3_node[s3_index(OFF(backup.s3.m))])
    const char *raw = c->backup.target + 5;
    const char *slash = strchr(raw, '/');
    char *bucket = slash ? dv_asprintf("%.*s", (int)(slash - raw), raw) : dv_strdup(raw);
    char *prefix = dv_strdup(slash ? slash + 1 : "");
    for (size_t n = strlen(prefix); n > 0 && prefix[n - 1] == '/'; n--)
        prefix[n - 1] = '\0';
    int rc = -1;
    if (!bucket_name_ok(bucket)) {
        node_err(l, tn,
                 "'target' '%s': bucket name '%s' is not valid (3 to 63 of a-z, 0-9, '.', '-'; "
                 "starting and ending with a letter or digit)",
                 c->backup.target, bucket);
        goto out;
    }
    if (!prefix_ok(prefix)) {
        node_err(l, tn,
                 "'target' '%s': prefix '%s' is not valid (parts of A-Z a-z 0-9 . _ - = + "
                 "separated by '/'; no '.', '..' or empty part)",
                 c->backup.target, prefix);
        goto out;
    }
    const char *ep = c->backup.s3.endpoint;
    if (!ep || !*ep) {
        node_err(l, tn,
                 "'target' '%s' is a bucket: 'backup.s3.endpoint' is required (e.g. "
                 "http://127.0.0.1:7480, or https://s3.us-east-1.amazonaws.com)",
                 c->backup.target);
        goto out;
    }
    if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
        node_err(l, S3N(endpoint), "'endpoint' '%s' must be http://HOST[:PORT] or https://...", ep);
        goto out;
    }
    if (!c->backup.s3.region || !*c->backup.s3.region) {
        node_err(l, S3N(region), "'region' must not be empty");
        goto out;
    }
    char *m = c->backup.s3.object_lock_mode;
    for (char *q = m; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
    if (strcmp(m, "governance") != 0 && strcmp(m, "compliance") != 0) {
        node_err(l, S3N(object_lock_mode),
                 "'object_lock_mode' must be governance or compliance, not '%s'", m);
        goto out;
    }
    long days = c->backup.s3.object_lock_days, keep = c->backup.keep_days;
    if (days > 0 && keep > 0 && days > keep) {
        node_err(l, S3N(object_lock_days) ? S3N(object_lock_days) : l->keep_days_node,
                 "'object_lock_days' %ld is longer than 'keep_days' %ld: prune could never "
                 "remove what the lock keeps (raise keep_days to %ld or more, or lower the lock)",
                 days, keep, days);
        goto out;
    }
    if (!c->backup.s3.cache) {
        char *cat = dv_dirname(c->catalog);
        c->backup.s3.cache = *prefix ? dv_asprintf("%s/s3-cache/%s/%s", cat, bucket, prefix)
                                     : dv_asprintf("%s/s3-cache/%s", cat, bucket);
        free(cat);
    }
    char *cache = dv_path_canon(c->backup.s3.cache), *data = dv_path_canon(c->server.data_dir),
         *daos = c->server.daos_dir ? dv_path_canon(c->server.daos_dir) : NULL;
    yaml_node_t *cn = S3N(cache) ? S3N(cache) : tn;
    if (dv_path_within(cache, data) || (daos && dv_path_within(cache, daos)))
        node_err(l, cn, "'cache' '%s' is inside the server's %s: each backup would copy its spool",
                 c->backup.s3.cache, dv_path_within(cache, data) ? "data_dir" : "daos_dir");
    else if (dv_path_within(data, cache))
        node_err(l, cn, "'cache' '%s' holds the server's data_dir", c->backup.s3.cache);
    else
        rc = 0;
    free(cache);
    free(data);
    free(daos);
    if (rc != 0)
        goto out;
    c->backup.s3.bucket = bucket;
    c->backup.s3.prefix = prefix;
    bucket = prefix = NULL;
    /* the target as it is named: s3://BUCKET/PREFIX (no trailing '/') */
    free(c->backup.target);
    c->backup.target = *c->backup.s3.prefix
                           ? dv_asprintf("s3://%s/%s", c->backup.s3.bucket, c->backup.s3.prefix)
                           : dv_asprintf("s3://%s", c->backup.s3.bucket);
#undef S3N
out:
    free(bucket);
    free(prefix);
    return rc;
}

/* Lexically normalised relative path ("." and empty parts dropped); NULL when a part is "..". */
static char *rel_norm(const char *raw)
{
    char *copy = dv_strdup(raw), *save = NULL, *out = dv_calloc(1, strlen(raw) + 1);
    size_t n = 0;
    for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, "..") == 0) {
            free(copy);
            free(out);
            return NULL;
        }
        if (strcmp(p, ".") != 0)
            n += (size_t)sprintf(out + n, "%s%s", n ? "/" : "", p);
    }
    free(copy);
    return out;
}

/*
 * restore.dir: relative to data_dir (no ".."), or an absolute path inside it (compared
 * canonically); never data_dir itself, never in the DAOS directory or holding it (config.h).
 */
static int restore_resolve(struct loader *l, const char *raw)
{
    struct dv_config *c = l->cfg;
    yaml_node_t *n = l->restore_node;
    const char *inside = "the restore folder lives inside the server's data_dir";
    char *rel = NULL, *data = dv_path_canon(c->server.data_dir), *daos = NULL, *canon = NULL;
    int rc = -1;
    if (raw[0] == '/') {
        canon = dv_path_canon(raw);
        if (!dv_path_within(canon, data) || strcmp(canon, data) == 0) {
            node_err(l, n, "'restore.dir' '%s' is not inside the server's data_dir '%s': %s", raw,
                     c->server.data_dir, inside);
            goto out;
        }
        rel = rel_norm(canon + strlen(data) + (strcmp(data, "/") != 0));
    } else if (!(rel = rel_norm(raw))) {
        node_err(l, n, "'restore.dir' '%s' must not contain '..': it is relative to data_dir (%s)",
                 raw, inside);
        goto out;
    }
    if (!rel || !rel[0]) {
        node_err(l, n, "'restore.dir' '%s' is the data_dir itself: name a folder inside it", raw);
        goto out;
    }
    free(c->restore.rel);
    free(c->restore.dir);
    c->restore.rel = rel;
    c->restore.dir = dv_path_join(c->server.data_dir, rel);
    rel = NULL;
    canon = (free(canon), dv_path_canon(c->restore.dir));
    daos = c->server.daos_dir ? dv_path_canon(c->server.daos_dir) : NULL;
    if (daos && (dv_path_within(canon, daos) || dv_path_within(daos, canon))) {
        node_err(l, n, "'restore.dir' '%s' %s the DAOS directory '%s': give it a folder of its own",
                 raw, dv_path_within(canon, daos) ? "is inside" : "holds",
                 written(l->daos_node, "daos"));
        goto out;
    }
    rc = 0;
out:
    free(rel);
    free(data);
    free(daos);
    free(canon);
    return rc;
}

int dv_yaml_depth_check(FILE *f, const char *path, int max)
{
    /* libyaml's scanner looks at every open flow level for each token it reads (its simple
     * keys): a file of 200,000 '[' took minutes. The events are read only until the nesting
     * passes max, so that such a file stops after a few dozen tokens. */
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e))
            break; /* a syntax error: the loader that follows reports it */
        yaml_event_type_t t = e.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > max) {
                dv_seterr("%s:%zu:%zu: nested deeper than %d levels", path, e.start_mark.line + 1,
                          e.start_mark.column + 1, max);
                rc = -1;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&e);
        if (rc != 0 || t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    if (rc == 0 && fseek(f, 0, SEEK_SET) != 0) {
        dv_seterr("%s:1:1: cannot read: %s", path, strerror(errno));
        rc = -1;
    }
    clearerr(f);
    return rc;
}

int dv_config_load(const char *path, struct dv_config *cfg)
{
    char *dir = dv_dirname(path);
    dv_config_defaults(cfg, dir);
    free(dir);
    cfg->path = dv_strdup(path);

    FILE *f = fopen(path, "rb");
    if (!f) {
        dv_seterr("%s:1:1: cannot read configuration: %s", path, strerror(errno));
        return -1;
    }
    if (dv_yaml_depth_check(f, path, DV_YAML_DEPTH_MAX) != 0) {
        fclose(f);
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        dv_seterr("%s:%zu:%zu: %s%s%s", path, parser.problem_mark.line + 1,
                  parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
                  parser.context ? " " : "", parser.context ? parser.context : "");
        if (ferror(f))
            dv_seterr("%s:1:1: cannot read configuration: %s", path, strerror(errno));
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    struct loader l = {.file = path, .doc = &doc, .cfg = cfg};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = 0; /* an empty file means all defaults */
    else
        rc = load_map(&l, root, root_fields, "the configuration");
    if (rc == 0) {
        /* daos_dir is relative to data_dir (as the server names it); absent or "": none */
        free(cfg->server.daos_dir);
        cfg->server.daos_dir =
            l.daos_raw && *l.daos_raw ? dv_path_join(cfg->server.data_dir, l.daos_raw) : NULL;
        rc = l.target_s3 ? s3_resolve(&l) : check_paths(&l);
    }
    if (rc == 0) /* the default "restore" too: data_dir may have changed */
        rc = restore_resolve(&l, l.restore_raw ? l.restore_raw : "restore");
    free(l.daos_raw);
    free(l.restore_raw);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

bool dv_config_daos_unset_but_present(const struct dv_config *cfg, char *path, size_t n)
{
    if (dv_config_has_daos(cfg))
        return false;
    static const char *const marks[] = {"daos/daoscat.db", "daos/daos.cfg"};
    for (size_t i = 0; i < 2; i++) {
        char *p = dv_path_join(cfg->server.data_dir, marks[i]);
        struct stat st;
        bool found = lstat(p, &st) == 0;
        free(p);
        if (found) {
            char *d = dv_path_join(cfg->server.data_dir, "daos");
            snprintf(path, n, "%s", d);
            free(d);
            return true;
        }
    }
    return false;
}
