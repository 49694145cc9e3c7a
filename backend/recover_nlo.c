/* recover_nlo.c - NLOs from the target's pool back into the live repository (recover_nlos,
 * list files) and the check of a database's NLOs (listnlo damaged). See recover.h. */
#include "recover.h"
#include "recover_int.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsb.h"
#include "target.h"
#include "target_read.h"
#include "util.h"

/* Newest usable (complete or partial) set holding an NLO (first in newest-first order). */
struct set_pick {
    const char *want; /* a set id that must be among them (NULL: none) */
    bool want_found;
    char newest[32];
    size_t n;
};

static int pick_set(void *ud, const struct catalog_set *s)
{
    struct set_pick *p = ud;
    p->n++;
    if (s->pruning > 0) /* half-removed by an interrupted prune: not a source */
        return 0;
    if (catalog_set_usable(s->status) && !p->newest[0])
        snprintf(p->newest, sizeof p->newest, "%s", s->id);
    if (p->want && strcmp(p->want, s->id) == 0)
        p->want_found = true;
    return 0;
}

/* ---- list files ------------------------------------------------------------------------ */

void recover_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* name, then position: equal names sort by where they stand in the file */
struct name_at {
    const char *name;
    size_t i;
};

static int name_at_cmp(const void *a, const void *b)
{
    const struct name_at *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* Why line p (l bytes) is not an NLO name, into why; never quotes it (the "list" may be any
 * file the operator, or a link, pointed at: /etc/shadow must not be echoed). */
static bool list_name(const char *p, size_t l, char item[STORE_NLO_NAME_LEN + 1], char *why,
                      size_t n)
{
    if (memchr(p, '/', l) || (l >= 2 && p[0] == '.' && p[1] == '.')) {
        snprintf(why, n, "a path, not an NLO name (%zu characters)", l);
        return false;
    }
    if (l != STORE_NLO_NAME_LEN && l != STORE_NLO_NAME_LEN - 4) {
        snprintf(why, n,
                 "not an NLO name (%zu characters, expected %d hex digits, \".nlo\" optional)", l,
                 STORE_NLO_NAME_LEN - 4);
        return false;
    }
    memcpy(item, p, l);
    item[l] = '\0';
    if (l == STORE_NLO_NAME_LEN - 4)
        strcat(item, ".nlo");
    for (size_t i = 0; i < STORE_NLO_NAME_LEN - 4; i++)
        if (!((item[i] >= '0' && item[i] <= '9') || (item[i] >= 'a' && item[i] <= 'f'))) {
            snprintf(why, n, "not an NLO name (character %zu is not a lower-case hex digit)",
                     i + 1);
            return false;
        }
    if (!store_nlo_name_valid(item)) {
        snprintf(why, n, "not an NLO name (it must end in \".nlo\")");
        return false;
    }
    return true;
}

int recover_list_read(const char *path, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    char *buf;
    size_t len;
    /* a regular file of bounded size: a link to /dev/zero or a FIFO is refused at once */
    if (dv_read_file_capped(path, RECOVER_LIST_MAX, &buf, &len) != 0)
        return -1;
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0;
    size_t line = 0;
    char *p = buf, *end = buf + len;
    while (p < end && rc == 0) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        size_t l = (size_t)(e - p);
        if (l == 0 || *p == '#') {
            p = next;
            continue;
        }
        if (memchr(p, '\0', l)) {
            dv_seterr("%s:%zu: NUL byte in the line", path, line);
            rc = -1;
            break;
        }
        char item[STORE_NLO_NAME_LEN + 1], why[128];
        if (!list_name(p, l, item, why, sizeof why)) {
            dv_seterr("%s:%zu: %s", path, line, why);
            rc = -1;
            break;
        }
        if (k == cap) {
            cap = cap ? cap * 2 : 64;
            v = dv_realloc(v, cap * sizeof *v);
        }
        v[k++] = dv_strdup(item);
        p = next;
    }
    free(buf);
    if (rc != 0) {
        recover_names_free(v, k);
        return -1;
    }
    /* drop duplicates, keep file order: sorted once (n log n), the first of each run kept */
    if (k > 1) {
        struct name_at *s = dv_malloc(k * sizeof *s);
        for (size_t i = 0; i < k; i++)
            s[i] = (struct name_at){v[i], i};
        qsort(s, k, sizeof *s, name_at_cmp);
        bool *drop = dv_calloc(k, sizeof *drop);
        size_t ndrop = 0;
        for (size_t i = 1; i < k; i++)
            if (strcmp(s[i - 1].name, s[i].name) == 0) {
                drop[s[i].i] = true;
                ndrop++;
            }
        free(s);
        if (ndrop) {
            size_t m = 0;
            for (size_t i = 0; i < k; i++) {
                if (drop[i])
                    free(v[i]);
                else
                    v[m++] = v[i];
            }
            k = m;
        }
        free(drop);
    }
    *names = v;
    *n = k;
    return 0;
}

/* ---- recover NLOs ---------------------------------------------------------------------- */

struct namevec {
    char **v;
    size_t n, cap;
};

static int collect_name(void *ud, const char *name)
{
    struct namevec *nv = ud;
    if (nv->n == nv->cap) {
        nv->cap = nv->cap ? nv->cap * 2 : 64;
        nv->v = dv_realloc(nv->v, nv->cap * sizeof *nv->v);
    }
    nv->v[nv->n++] = dv_strdup(name);
    return 0;
}

struct docvec {
    struct recover_docref *v;
    size_t n, cap;
};

static int collect_doc(void *ud, const struct store_doc_info *d)
{
    struct docvec *dv = ud;
    if (dv->n == dv->cap) {
        dv->cap = dv->cap ? dv->cap * 2 : 4;
        dv->v = dv_realloc(dv->v, dv->cap * sizeof *dv->v);
    }
    struct recover_docref *r = &dv->v[dv->n++];
    snprintf(r->unid, sizeof r->unid, "%s", d->unid);
    r->subject = dv_strdup(d->subject);
    return 0;
}

void recover_result_done(struct recover_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->items[i].ndocs; k++)
            free(r->items[i].docs[k].subject);
        free(r->items[i].docs);
        free(r->items[i].reason);
        free(r->items[i].damage);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void unrecoverable(struct recover_item *it, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void unrecoverable(struct recover_item *it, const char *fmt, ...)
{
    it->status = RECOVER_UNRECOVERABLE;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    free(it->reason);
    it->reason = dv_malloc((size_t)(n > 0 ? n : 0) + 1);
    vsnprintf(it->reason, (size_t)(n > 0 ? n : 0) + 1, fmt, ap2);
    va_end(ap2);
}

/* The pool copy of name beneath the target (fsb.h), never through a link planted in the pool
 * (reads outside the target), never a FIFO or device (refused at once, never waited on): a
 * descriptor, or -1 with dv_err() naming the path and what it is. An S3 target's is fetched
 * from the bucket's pool into the working tree first (evicted by nlos_done). */
static int open_pool_copy(struct target *t, const char *name)
{
    char prel[128];
    target_pool_relpath(name, prel, sizeof prel);
    return target_fetch_open(t, prel);
}

/* Why a live NLO is damaged: its kind, or its bytes against the pool's record. */
static char *damage_text(const struct store_live_nlo *lv, const char *pool_sha)
{
    if (lv->kind != STORE_LIVE_FILE)
        return dv_asprintf("it is %s", lv->what);
    return dv_asprintf("its bytes do not match the backup: SHA-256 %.16s..., the pool recorded "
                       "%.16s...",
                       lv->sha256, pool_sha);
}

/* One recovery (recover_nlos), from step to step. */
struct nlos {
    const struct dv_config *cfg;
    const struct recover_opts *o;
    struct dv_job *job;
    struct recover_result *r;
    struct namevec nv;
    struct catalog *cat;
    struct target *t;
    struct dv_store *st;
    struct store_live *live;
    struct store_install *inst;
    size_t *idx, *fix;   /* candidates to copy / to repair (items), then the good ones */
    size_t ncand, ncfix; /* after the decision */
    size_t ngood, nfix;  /* after the pool copies were checked */
    char **fetched;      /* pool objects in the working tree (S3: downloaded), evicted at the end */
    size_t nfetched;
};

static void nlos_done(struct nlos *c)
{
    for (size_t k = 0; k < c->nfetched; k++) {
        target_evict(c->t, c->fetched[k]);
        free(c->fetched[k]);
    }
    free(c->fetched);
    for (size_t k = 0; c->inst && k < c->ngood; k++)
        free((char *)c->inst[k].src_path);
    store_live_close(c->live);
    store_free(c->st);
    target_close(c->t);
    catalog_close(c->cat);
    recover_names_free(c->nv.v, c->nv.n);
    free(c->idx);
    free(c->fix);
    store_install_done(c->inst, c->ngood);
    free(c->inst);
}

/* 1. The names (a list file, what a database or a document lacks), the store, the catalog,
 * the set. A bad list file stops everything before anything is opened. 0 or -1. */
static int nlos_names(struct nlos *c)
{
    const struct recover_opts *o = c->o;
    if (o->list_file && recover_list_read(o->list_file, &c->nv.v, &c->nv.n) != 0)
        return -1;
    for (size_t i = 0; o->names && i < o->nnames; i++)
        collect_name(&c->nv, o->names[i]);
    recover_sweep_leftovers(c->cfg, NULL, c->job, &c->r->sweep);
    if (!(c->st = store_open(c->cfg)))
        return -1;
    if (o->db_path) {
        int lr = o->unid ? store_doc_nlos(c->st, o->db_path, o->unid, collect_name, &c->nv)
                         : store_listnlo(c->st, o->db_path, true, collect_name, &c->nv, NULL);
        if (lr != 0)
            return -1;
    }
    if ((c->nv.n || o->set_id) && !(c->cat = recover_open_catalog(c->cfg)))
        return -1;
    if (o->set_id) {
        struct catalog_set s;
        int g = catalog_set_get(c->cat, o->set_id, &s);
        if (g <= 0) {
            if (g == 0)
                dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
            return -1;
        }
        if (!catalog_set_usable(s.status)) {
            dv_seterr("backup set %s is %s, not complete: choose a complete set", o->set_id,
                      catalog_set_status_name(s.status));
            return -1;
        }
    }
    c->r->items = dv_calloc(c->nv.n ? c->nv.n : 1, sizeof *c->r->items);
    c->r->n = c->nv.n;
    return (c->live = store_live_open(c->st)) ? 0 : -1;
}

/* 2, for item i: present, damaged (to repair), missing (to copy) or unrecoverable. 0 or -1. */
static int nlos_decide_one(struct nlos *c, size_t i)
{
    const struct recover_opts *o = c->o;
    struct recover_item *it = &c->r->items[i];
    snprintf(it->name, sizeof it->name, "%s", c->nv.v[i]);
    job_advance(c->job, 1, 0, NULL);
    if (!store_nlo_name_valid(c->nv.v[i])) {
        unrecoverable(it, "'%.100s' is not an NLO name", c->nv.v[i]);
        return 0;
    }
    struct set_pick pk = {.want = o->set_id};
    if (catalog_nlo_sets(c->cat, it->name, pick_set, &pk) < 0)
        return -1;
    snprintf(it->set_id, sizeof it->set_id, "%s", pk.newest);
    struct catalog_pool_obj po;
    int g = catalog_pool_get(c->cat, it->name, &po);
    if (g < 0)
        return -1;
    struct store_live_nlo lv;
    if (store_live_nlo(c->live, it->name, g == 1, &lv) != 0) {
        unrecoverable(it, "the live copy cannot be checked: %s", dv_err());
        return 0;
    }
    if (lv.kind != STORE_LIVE_MISSING) {
        it->subdir = lv.subdir;
        if (g == 1 && lv.kind == STORE_LIVE_FILE && strcmp(lv.sha256, po.sha256) == 0) {
            it->status = RECOVER_PRESENT; /* checked: the bytes the backup holds */
        } else if (g == 0) {
            if (lv.kind == STORE_LIVE_FILE)
                it->status = RECOVER_PRESENT; /* cannot be checked: no backup holds it */
            else
                unrecoverable(it, "it is %s and no backup set holds it (not in the pool)", lv.what);
        } else {
            it->damage = damage_text(&lv, po.sha256);
            if (o->set_id && !pk.want_found)
                unrecoverable(it, "damaged, %s; backup set %s does not hold it%s%s%s", it->damage,
                              o->set_id, pk.newest[0] ? " (set " : "", pk.newest,
                              pk.newest[0] ? " does)" : "");
            else
                c->fix[c->ncfix++] = i;
        }
        return 0;
    }
    if (g == 0)
        unrecoverable(it, "no backup set holds it (not in the pool)");
    else if (o->set_id && !pk.want_found && pk.newest[0])
        unrecoverable(it, "backup set %s does not hold it (set %s does)", o->set_id, pk.newest);
    else if (o->set_id && !pk.want_found)
        unrecoverable(it, "backup set %s does not hold it", o->set_id);
    else
        c->idx[c->ncand++] = i;
    return 0;
}

/* 2. Decide for every name, before anything is copied. A name the repository has is checked
 * against the pool's record (the SHA-256 of the stored bytes, compared with the live file's
 * stored bytes: nothing is decrypted): damaged bytes, a link or a special file under its name
 * are repaired from the pool. Only the names of this recovery are hashed. 0 or -1. */
static int nlos_decide(struct nlos *c)
{
    size_t n = c->nv.n;
    job_phase(c->job, "check", n, 0);
    c->idx = dv_calloc(n ? n : 1, sizeof *c->idx);
    c->fix = dv_calloc(n ? n : 1, sizeof *c->fix);
    for (size_t i = 0; i < n; i++)
        if (nlos_decide_one(c, i) != 0)
            return -1;
    return 0;
}

/* 3, for the k-th candidate: its pool copy present and what the backup wrote. 0 or -1. */
static int nlos_check_copy(struct nlos *c, size_t k)
{
    bool repair = k >= c->ncand;
    size_t i = repair ? c->fix[k - c->ncand] : c->idx[k];
    struct recover_item *it = &c->r->items[i];
    struct catalog_pool_obj po;
    if (catalog_pool_get(c->cat, it->name, &po) != 1)
        return -1;
    char prel[128], sha[65];
    target_pool_relpath(it->name, prel, sizeof prel);
    char *pp = target_name_of(c->t, prel); /* S3: s3://BUCKET/PREFIX/nlo/... */
    int pfd = open_pool_copy(c->t, it->name), hrc = -1;
    if (pfd >= 0) {
        hrc = dv_sha256_fd_hex(pfd, pp, sha);
        close(pfd);
        /* kept in the working tree until installed or repaired: evicted by nlos_done */
        c->fetched[c->nfetched++] = dv_strdup(prel);
    }
    const char *dmg = it->damage ? it->damage : "";
    const char *sep = it->damage ? "; " : "";
    const char *pre = it->damage ? "damaged, " : "";
    const char *post = "";
    if (hrc != 0 && strncmp(dv_err(), pp, strlen(pp)) == 0) { /* "PATH is a FIFO..." */
        unrecoverable(it, "%s%s%s%spool file %s", pre, dmg, post, sep, dv_err());
    } else if (hrc != 0) {
        unrecoverable(it, "%s%s%s%spool file %s: %s", pre, dmg, post, sep, pp, dv_err());
    } else if (strcmp(sha, po.sha256) != 0) {
        unrecoverable(it,
                      "%s%s%s%spool file %s is corrupt: SHA-256 %s, the catalog "
                      "recorded %s",
                      pre, dmg, post, sep, pp, sha, po.sha256);
    } else if (repair) {
        c->fix[c->nfix++] = i;
    } else {
        c->inst[c->ngood].name = it->name;
        c->inst[c->ngood].src_path = dv_strdup(prel); /* opened beneath the target again */
        c->inst[c->ngood].src_root = target_root(c->t);
        c->idx[c->ngood++] = i;
    }
    free(pp);
    job_advance(c->job, 1, (uint64_t)po.size, it->name);
    return 0;
}

/* 3. The pool copies: present, and what the backup wrote. Installing reads every copy back
 * (and decrypts it when encrypted): the server key is needed from here on. 0 or -1. */
static int nlos_check_pool(struct nlos *c)
{
    if (!c->ncand && !c->ncfix)
        return 0;
    if (store_key_require(c->st) != 0) {
        dv_preferr("the server key is needed to check what is installed");
        return -1;
    }
    if (!(c->t = recover_open_target(c->cfg, c->cat)))
        return -1;
    c->inst = dv_calloc(c->ncand ? c->ncand : 1, sizeof *c->inst);
    c->fetched = dv_calloc(c->ncand + c->ncfix + 1, sizeof *c->fetched);
    job_phase(c->job, "verify pool copies", c->ncand + c->ncfix, 0);
    for (size_t k = 0; k < c->ncand + c->ncfix; k++)
        if (nlos_check_copy(c, k) != 0)
            return -1;
    return 0;
}

/* 4. Copy the good ones into the live repository (their items' status set); -1 (a failed
 * install, dv_err() set) is reported after the repairs. */
static int nlos_install(struct nlos *c)
{
    int irc = c->ngood ? store_nlo_install_many(c->st, c->inst, c->ngood, c->job) : 0;
    for (size_t k = 0; k < c->ngood; k++) {
        struct recover_item *it = &c->r->items[c->idx[k]];
        const struct store_install *in = &c->inst[k];
        it->subdir = in->subdir;
        if (in->status == STORE_INSTALL_NEW) {
            it->status = RECOVER_RECOVERED;
            struct stat sb;
            if (fsb_lstat(target_root(c->t), in->src_path, &sb) == 0)
                c->r->bytes += (uint64_t)sb.st_size;
        } else if (in->status == STORE_INSTALL_PRESENT) {
            it->status = RECOVER_PRESENT;
        } else {
            unrecoverable(it, "copy failed: %s", in->err ? in->err : "not processed");
        }
    }
    return irc;
}

/* 4. Replace the damaged ones from the pool, atomically. */
static void nlos_repair(struct nlos *c)
{
    if (c->nfix)
        job_phase(c->job, "repair NLOs", c->nfix, 0);
    for (size_t k = 0; k < c->nfix; k++) {
        struct recover_item *it = &c->r->items[c->fix[k]];
        struct catalog_pool_obj po;
        if (job_cancelled(c->job)) {
            unrecoverable(it, "damaged, %s; not repaired: cancelled", it->damage);
            continue;
        }
        if (catalog_pool_get(c->cat, it->name, &po) != 1) {
            unrecoverable(it, "damaged, %s; not repaired: %s", it->damage, dv_err());
            continue;
        }
        int pfd = open_pool_copy(c->t, it->name);
        if (pfd < 0 || store_live_replace(c->live, it->name, it->subdir, pfd, po.sha256) != 0) {
            unrecoverable(it, "damaged, %s; the repair failed: %s", it->damage, dv_err());
        } else {
            it->status = RECOVER_REPAIRED;
            c->r->bytes += (uint64_t)po.size;
        }
        if (pfd >= 0)
            close(pfd);
        job_advance(c->job, 1, (uint64_t)po.size, it->name);
    }
}

/* 5. The counts, where present ones live, the documents of what is unrecoverable. 0, or -1
 * naming the first unrecoverable one. */
static int nlos_report(struct nlos *c)
{
    struct recover_result *r = c->r;
    const struct recover_item *first_bad = NULL;
    for (size_t i = 0; i < r->n; i++) {
        struct recover_item *it = &r->items[i];
        if (it->status == RECOVER_PRESENT && !it->subdir) {
            char *p = store_nlo_path(c->st, it->name);
            if (p) {
                const char *sl = strrchr(p, '/');
                it->subdir = sl && sl - p >= 4 ? atoi(sl - 4) : 0;
            }
            free(p);
        }
        r->recovered += it->status == RECOVER_RECOVERED;
        r->present += it->status == RECOVER_PRESENT;
        r->repaired += it->status == RECOVER_REPAIRED;
        if (it->status != RECOVER_UNRECOVERABLE)
            continue;
        r->unrecoverable++;
        if (!first_bad)
            first_bad = it;
        if (c->o->db_path && store_nlo_name_valid(it->name)) {
            struct docvec dv = {0};
            struct store_doc_filter f = {.nlo = it->name};
            store_docs(c->st, c->o->db_path, &f, collect_doc, &dv, NULL);
            it->docs = dv.v;
            it->ndocs = dv.n;
        }
    }
    if (first_bad) {
        dv_seterr("%llu of %zu NLOs unrecoverable (first: %s: %s)",
                  (unsigned long long)r->unrecoverable, r->n, first_bad->name, first_bad->reason);
        return -1;
    }
    return 0;
}

static int nlos_run(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                    struct recover_result *r)
{
    struct nlos c = {.cfg = cfg, .o = o, .job = job, .r = r};
    int rc = -1;
    if (nlos_names(&c) != 0 || nlos_decide(&c) != 0 || nlos_check_pool(&c) != 0)
        goto out;
    int irc = nlos_install(&c);
    char inst_err[DV_ERR_MAX] = "";
    if (irc != 0)
        snprintf(inst_err, sizeof inst_err, "%s", dv_err());
    nlos_repair(&c);
    if (nlos_report(&c) != 0)
        goto out;
    if (irc != 0) {
        dv_seterr("%s", inst_err);
        goto out;
    }
    rc = 0;
out:
    nlos_done(&c);
    return rc;
}

int recover_nlos(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                 struct recover_result *r)
{
    memset(r, 0, sizeof *r);
    if ((o->list_file != NULL) + (o->db_path != NULL) + (o->names != NULL) != 1) {
        dv_seterr("recover needs either a list file or a database");
        return -1;
    }
    if (o->unid && !o->db_path) {
        dv_seterr("recover: a document needs its database");
        return -1;
    }
    if (!dv_config_has_daos(cfg)) {
        dv_seterr("%s (server.daos_dir is not set): there are no NLOs to recover", DV_NO_DAOS);
        return -1;
    }
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "recover", job);
    int rc = nlos_run(cfg, o, job, r);
    char sum[256], b[32];
    dv_fmt_bytes(r->bytes, b, sizeof b);
    snprintf(sum, sizeof sum,
             "%llu recovered, %llu repaired (%s), %llu already present, %llu unrecoverable",
             (unsigned long long)r->recovered, (unsigned long long)r->repaired, b,
             (unsigned long long)r->present, (unsigned long long)r->unrecoverable);
    job_record_end(&rec, rc, sum);
    return rc;
}

/* ---- listnlo damaged ------------------------------------------------------------------- */

int recover_check_nlos(const struct dv_config *cfg, const char *db_path, struct dv_job *job,
                       recover_check_fn fn, void *ud, struct recover_check_counts *c)
{
    memset(c, 0, sizeof *c);
    struct namevec nv = {0};
    struct dv_store *st = NULL;
    struct store_live *live = NULL;
    struct catalog *cat = NULL;
    int rc = -1;
    if (!(st = store_open(cfg)))
        goto out;
    if (store_listnlo(st, db_path, false, collect_name, &nv, NULL) != 0)
        goto out;
    if (!(cat = recover_open_catalog(cfg)) || !(live = store_live_open(st)))
        goto out;
    job_phase(job, "check", nv.n, 0);
    for (size_t i = 0; i < nv.n; i++) {
        const char *name = nv.v[i];
        c->referenced++;
        job_advance(job, 1, 0, name);
        if (job_cancelled(job)) {
            dv_seterr("cancelled");
            goto out;
        }
        struct catalog_pool_obj po;
        int g = store_nlo_name_valid(name) ? catalog_pool_get(cat, name, &po) : 0;
        if (g < 0)
            goto out;
        struct store_live_nlo lv;
        enum recover_check what;
        char *why = NULL;
        if (!store_nlo_name_valid(name)) {
            what = RECOVER_CHECK_UNKNOWN;
            why = dv_strdup("not an NLO name");
        } else if (store_live_nlo(live, name, g == 1, &lv) != 0) {
            what = RECOVER_CHECK_DAMAGED;
            why = dv_asprintf("cannot be read: %s", dv_err());
        } else if (lv.kind == STORE_LIVE_MISSING) {
            what = RECOVER_CHECK_MISSING;
        } else if (g == 1 && lv.kind == STORE_LIVE_FILE && strcmp(lv.sha256, po.sha256) == 0) {
            what = RECOVER_CHECK_OK;
        } else if (g == 1 || lv.kind != STORE_LIVE_FILE) {
            what = RECOVER_CHECK_DAMAGED;
            why = g == 1 ? damage_text(&lv, po.sha256)
                         : dv_asprintf("it is %s (not in the pool)", lv.what);
        } else {
            what = RECOVER_CHECK_UNKNOWN;
            why = dv_strdup("not in the pool: no backup holds it, its bytes cannot be checked");
        }
        c->ok += what == RECOVER_CHECK_OK;
        c->damaged += what == RECOVER_CHECK_DAMAGED;
        c->unknown += what == RECOVER_CHECK_UNKNOWN;
        c->missing += what == RECOVER_CHECK_MISSING;
        int r = (what == RECOVER_CHECK_DAMAGED || what == RECOVER_CHECK_UNKNOWN) && fn
                    ? fn(ud, name, what, why)
                    : 0;
        free(why);
        if (r != 0) {
            rc = r;
            goto out;
        }
    }
    job_flush(job);
    rc = 0;
out:
    store_live_close(live);
    catalog_close(cat);
    store_free(st);
    recover_names_free(nv.v, nv.n);
    return rc;
}
