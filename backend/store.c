/* store.c - the live server: databases, DAOS repository, DAOS index. See store.h, docs/store.md. */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "dbglob.h"
#include "fsb.h"
#include "util.h"

#define BUSY_MS 60000
#define MAX_SUBDIR 9999
#define PRUNE_BATCH 256

struct dv_store {
    const struct dv_config *cfg;
    sqlite3 *idx;
    char *idx_path;
    unsigned char key[32];
    bool have_key;
    bool key_missing; /* key_file names no file (not an error while encryption is off) */
    char *key_err;    /* why no key is loaded (NULL when it is, or none is configured) */
    struct fsb *daos; /* the DAOS directory: NLOs are read and written beneath it (fsb.h) */
};

struct namelist {
    char (*v)[STORE_NLO_NAME_LEN + 1];
    size_t n, cap;
};

struct store_db {
    struct dv_store *st;
    sqlite3 *h;
    char *path;   /* absolute */
    char *ditkey; /* path relative to data_dir, or absolute when outside */
    char replica[64], dbiid[64];
    bool in_tx;
    struct namelist reserved; /* references counted in the index for the open transaction */
    struct namelist released; /* references to release in the index after commit */
};

/* One reference to acquire: the name, and the plaintext when we may have to write the file. */
struct ref {
    char name[STORE_NLO_NAME_LEN + 1];
    const void *data;
    size_t size;
    int subdir;
    bool created; /* a new DOI row: the file must be written */
};

static atomic_uint tmp_counter;

/* ---- small helpers ---------------------------------------------------------------------- */

static void nl_add(struct namelist *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = dv_realloc(l->v, l->cap * sizeof *l->v);
    }
    snprintf(l->v[l->n++], sizeof l->v[0], "%s", name);
}

static void nl_free(struct namelist *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int sq_fail(sqlite3 *h, const char *what)
{
    dv_seterr("%s: %s", what, sqlite3_errmsg(h));
    return -1;
}

static int sq_exec(sqlite3 *h, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        dv_seterr("%s: %s", what, msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *sq_prep(sqlite3 *h, const char *sql, const char *what)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
        sq_fail(h, what);
        return NULL;
    }
    return s;
}

static int sq_open(const char *path, int flags, sqlite3 **out)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        dv_seterr("open %s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, BUSY_MS);
    *out = h;
    return 0;
}

static char *subdir_path(const struct dv_store *st, int subdir)
{
    return dv_asprintf("%s/%04d", st->cfg->server.daos_dir, subdir);
}

static char *nlo_file(const struct dv_store *st, int subdir, const char *name)
{
    return dv_asprintf("%s/%04d/%s", st->cfg->server.daos_dir, subdir, name);
}

/* "0001".."9999" -> number, else 0. */
static int subdir_num(const char *s)
{
    if (strlen(s) != 4)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return atoi(s);
}

static uint64_t name_size(const char *name)
{
    char hex[17];
    memcpy(hex, name + 64, 16);
    hex[16] = '\0';
    return strtoull(hex, NULL, 16);
}

/* A server without DAOS (server.daos_dir not set) has no repository and no index: st->idx is
 * NULL, attachments are stored inline, and what needs the repository fails saying so. */
static bool has_daos(const struct dv_store *st)
{
    return st->idx != NULL;
}

static int no_daos(void)
{
    dv_seterr("%s (server.daos_dir is not set)", DV_NO_DAOS);
    return -1;
}

/* ---- key file --------------------------------------------------------------------------- */

static int key_check_fd(int fd, const char *path)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        dv_syserr("key file %s", path);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        dv_seterr("key file %s is not a regular file", path);
        return -1;
    }
    if (sb.st_uid != geteuid()) {
        dv_seterr("key file %s is owned by uid %ld, not by this user (uid %ld): refusing it", path,
                  (long)sb.st_uid, (long)geteuid());
        return -1;
    }
    if ((sb.st_mode & 07777) != 0600) {
        dv_seterr("key file %s has mode %04o, it must be 0600 (chmod 600 %s): refusing it", path,
                  (unsigned)(sb.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

/* dvault never creates a key: only the server does (store_key_create, used by dvload init). */
int store_key_create(const struct dv_config *cfg)
{
    const char *path = cfg->server.key_file;
    if (!path || !*path) {
        dv_seterr("server.key_file is empty: no key file to create");
        return -1;
    }
    if (access(path, F_OK) == 0)
        return 0;
    char *dir = dv_dirname(path);
    int rc = dv_mkdirs(dir, 0700);
    free(dir);
    if (rc != 0)
        return -1;
    unsigned char k[32];
    char hex[66];
    dv_random(k, sizeof k);
    dv_hex(k, sizeof k, hex);
    hex[64] = '\n';
    hex[65] = '\0';
    char *tmp =
        dv_asprintf("%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        dv_syserr("create key file %s", tmp);
        free(tmp);
        return -1;
    }
    rc = -1;
    if (fchmod(fd, 0600) != 0 || dv_write_all(fd, hex, 65) != 0 || fsync(fd) != 0) {
        dv_syserr("write key file %s", tmp);
    } else if (link(tmp, path) != 0 && errno != EEXIST) { /* EEXIST: someone else made one */
        dv_syserr("create key file %s", path);
    } else {
        rc = dv_fsync_parent(path);
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

/*
 * Read and check the key file of cfg into key. Returns 0 (loaded), 1 (no key: key_file is
 * empty or names no file) or -1 (refused or unreadable), with dv_err() saying why and naming
 * the file when there is one. Never creates anything.
 */
static int key_read(const struct dv_config *cfg, unsigned char key[32])
{
    const char *path = cfg->server.key_file;
    if (!path || !*path) {
        dv_seterr(cfg->server.encryption ? "server.encryption is on but server.key_file is empty"
                                         : "server.key_file is empty");
        return 1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        dv_seterr("server key file %s does not exist (dvault never creates one: the server"
                  " does; dvload init for the simulated server)",
                  path);
        return 1;
    }
    if (fd < 0) {
        dv_syserr("server key file %s", path);
        return -1;
    }
    if (key_check_fd(fd, path) != 0) {
        close(fd);
        return -1;
    }
    char buf[80];
    ssize_t n = dv_pread_full(fd, buf, sizeof buf, 0);
    close(fd);
    int rc = -1;
    if (n < 0)
        dv_syserr("read key file %s", path);
    else if (!((n == 64) || (n == 65 && buf[64] == '\n')) || dv_unhex(buf, key, 32) != 0)
        dv_seterr("key file %s is not 64 hex digits and a newline", path);
    else
        rc = 0;
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* At open: load the key when there is a good one, else remember why (store_key_require). */
static void key_load(struct dv_store *st)
{
    int r = key_read(st->cfg, st->key);
    st->have_key = r == 0;
    st->key_missing = r == 1;
    if (r != 0)
        st->key_err = dv_strdup(dv_err());
}

int store_key_require(struct dv_store *st)
{
    if (!has_daos(st) || st->have_key || (st->key_missing && !st->cfg->server.encryption))
        return 0; /* without DAOS nothing is encrypted */
    dv_seterr("%s", st->key_err);
    return -1;
}

int store_key_check(const struct dv_config *cfg)
{
    if (!dv_config_has_daos(cfg))
        return 0; /* nothing to encrypt or decrypt */
    unsigned char key[32];
    int r = key_read(cfg, key);
    OPENSSL_cleanse(key, sizeof key);
    return r == 0 || (r == 1 && !cfg->server.encryption) ? 0 : -1;
}

/* ---- NLO names and files ------------------------------------------------------------------- */

bool store_nlo_name_valid(const char *name)
{
    if (!name || strlen(name) != STORE_NLO_NAME_LEN || strcmp(name + 80, ".nlo") != 0)
        return false;
    for (int i = 0; i < 80; i++)
        if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i]))
            return false;
    return true;
}

void store_nlo_name(const void *data, size_t size, char out[STORE_NLO_NAME_LEN + 1])
{
    char hex[65];
    dv_sha256_hex(data, size, hex);
    snprintf(out, STORE_NLO_NAME_LEN + 1, "%s%016llx.nlo", hex, (unsigned long long)size);
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* GCM over a buffer in chunks that fit an int. enc: 1 encrypt, 0 decrypt. */
static int gcm_run(EVP_CIPHER_CTX *c, const unsigned char *in, size_t n, unsigned char *out)
{
    size_t done = 0;
    while (done < n) {
        int chunk = (int)((n - done) > (1u << 30) ? (1u << 30) : (n - done)), outl = 0;
        if (EVP_CipherUpdate(c, out + done, &outl, in + done, chunk) != 1)
            return -1;
        done += (size_t)chunk;
    }
    return 0;
}

/* Encode plaintext into the stored bytes of NLO name (header, payload, tag). */
static int nlo_encode(const struct dv_store *st, const char *name, const void *plain, size_t size,
                      unsigned char **out, size_t *outlen)
{
    bool enc = st->cfg->server.encryption;
    if (enc && !st->have_key) {
        dv_seterr("encryption is on but no server key is loaded: %s", st->key_err);
        return -1;
    }
    size_t len = STORE_NLO_HDR + size + (enc ? STORE_NLO_TAG : 0);
    unsigned char *b = dv_malloc(len);
    memset(b, 0, STORE_NLO_HDR);
    memcpy(b, "NLO1", 4);
    b[4] = enc ? 1 : 0;
    put_le64(b + 8, size);
    if (!enc) {
        memcpy(b + STORE_NLO_HDR, plain, size);
    } else {
        unsigned char *iv = b + 16;
        dv_random(iv, 12);
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int outl = 0,
            ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, st->key, iv, 1) == 1 &&
                 EVP_CipherUpdate(c, NULL, &outl, (const unsigned char *)name, (int)strlen(name)) ==
                     1 &&
                 gcm_run(c, plain, size, b + STORE_NLO_HDR) == 0 &&
                 EVP_CipherFinal_ex(c, b + STORE_NLO_HDR + size, &outl) == 1 &&
                 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, STORE_NLO_TAG,
                                     b + STORE_NLO_HDR + size) == 1;
        EVP_CIPHER_CTX_free(c);
        if (!ok) {
            free(b);
            dv_seterr("encrypt NLO %s: OpenSSL error", name);
            return -1;
        }
    }
    *out = b;
    *outlen = len;
    return 0;
}

/* Decode the stored bytes of NLO name (at path, for messages) and check them against the name. */
static int nlo_decode(const struct dv_store *st, const char *name, const char *path,
                      const unsigned char *b, size_t len, unsigned char **plain, size_t *plen)
{
    if (len < STORE_NLO_HDR || memcmp(b, "NLO1", 4) != 0) {
        dv_seterr("NLO %s: not an NLO file (bad header)", path);
        return -1;
    }
    bool enc = b[4] & 1;
    uint64_t size = get_le64(b + 8);
    if (len != STORE_NLO_HDR + size + (enc ? STORE_NLO_TAG : 0)) {
        dv_seterr("NLO %s: file size %zu does not match its header (truncated or damaged)", path,
                  len);
        return -1;
    }
    unsigned char *p = dv_malloc(size ? size : 1);
    if (!enc) {
        memcpy(p, b + STORE_NLO_HDR, size);
    } else {
        if (!st->have_key) {
            free(p);
            dv_seterr("NLO %s is encrypted but no server key is loaded: %s", path, st->key_err);
            return -1;
        }
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int outl = 0;
        int ok =
            c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, st->key, b + 16, 0) == 1 &&
            EVP_CipherUpdate(c, NULL, &outl, (const unsigned char *)name, (int)strlen(name)) == 1 &&
            gcm_run(c, b + STORE_NLO_HDR, size, p) == 0 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, STORE_NLO_TAG,
                                (void *)(b + STORE_NLO_HDR + size)) == 1 &&
            EVP_CipherFinal_ex(c, p + size, &outl) == 1;
        EVP_CIPHER_CTX_free(c);
        if (!ok) {
            free(p);
            dv_seterr("NLO %s: authentication failed (wrong server key or damaged file)", path);
            return -1;
        }
    }
    char want[STORE_NLO_NAME_LEN + 1];
    store_nlo_name(p, size, want);
    if (strcmp(want, name) != 0) {
        free(p);
        dv_seterr("NLO %s: content does not match its name (sha256/size)", path);
        return -1;
    }
    *plain = p;
    *plen = size;
    return 0;
}

static int nlo_read_path(const struct dv_store *st, const char *name, const char *path,
                         unsigned char **plain, size_t *plen)
{
    char *b;
    size_t len;
    /* what the name says it holds, plus the header and tag: nothing bigger is read */
    size_t cap = STORE_NLO_HDR + (size_t)name_size(name) + STORE_NLO_TAG;
    const char *dd = st->cfg->server.daos_dir;
    size_t dl = dd ? strlen(dd) : 0;
    int r = st->daos && dl && strncmp(path, dd, dl) == 0 && path[dl] == '/'
                ? fsb_read_capped(st->daos, path + dl + 1, cap, &b, &len) /* no link, no FIFO */
                : dv_read_file_capped(path, cap, &b, &len);
    if (r != 0)
        return -1;
    int rc = nlo_decode(st, name, path, (unsigned char *)b, len, plain, plen);
    free(b);
    return rc;
}

/* Write bytes as NLO name into subdir (temp name, fsync, rename, fsync dir). */
static int nlo_put_bytes(const struct dv_store *st, int subdir, const char *name,
                         const unsigned char *bytes, size_t len, int src_fd)
{
    /* beneath the DAOS directory without links (fsb.h): a subdirectory that is a link is
     * refused, the temporary is new (O_EXCL), the rename never replaces an NLO */
    char sub[16], rel[128];
    snprintf(sub, sizeof sub, "%04d", subdir);
    snprintf(rel, sizeof rel, "%04d/%s", subdir, name);
    if (!st->daos) {
        no_daos();
        return -1;
    }
    if (fsb_mkdir(st->daos, sub, 0750, true) != 0)
        return -1;
    char *tmpbase =
        dv_asprintf(".%.16s.%ld.%u.tmp", name, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    struct fsb_tmp t;
    int rc = -1;
    if (fsb_tmp_open(st->daos, rel, tmpbase, 0640, 0, &t) != 0)
        goto out;
    if (src_fd >= 0) {
        int64_t n = dv_copy_range(src_fd, 0, t.fd, 0, len);
        if (n < 0 || (size_t)n != len) {
            if (n >= 0)
                dv_seterr("copy into %s: source shorter than expected", t.path);
            else
                dv_syserr("copy into %s", t.path);
            goto out;
        }
    } else if (dv_write_all(t.fd, bytes, len) != 0) {
        dv_syserr("write %s", t.path);
        goto out;
    }
    if (fsync(t.fd) != 0) {
        dv_syserr("fsync %s", t.path);
        goto out;
    }
    int cr = close(t.fd);
    t.fd = -1;
    if (cr != 0) {
        dv_syserr("close %s", t.path);
        goto out;
    }
    dv_crashpoint("store-nlo-before-rename");
    if (fsb_tmp_commit(&t, FSB_NOREPLACE) == 0) {
        rc = 0;
    } else if (errno == EEXIST) {
        rc = 0; /* the NLO is already there: the temporary is dropped */
    } else if (errno == EINVAL || errno == ENOSYS) { /* no RENAME_NOREPLACE here */
        if (linkat(t.dfd, t.name, t.dfd, t.base, 0) == 0 || errno == EEXIST)
            rc = fsync(t.dfd) == 0 ? 0 : (dv_syserr("fsync %s/%s", fsb_path(st->daos), sub), -1);
        else
            dv_syserr("rename %s to %s", t.path, t.final);
    }
out:
    fsb_tmp_done(&t);
    free(tmpbase);
    return rc;
}

/* ---- the index: state, subdir counts, daos.cfg ------------------------------------------- */

static int idx_begin(struct dv_store *st)
{
    return sq_exec(st->idx, "BEGIN IMMEDIATE", "DAOS index: begin");
}

static int idx_commit(struct dv_store *st)
{
    if (sq_exec(st->idx, "COMMIT", "DAOS index: commit") != 0) {
        sqlite3_exec(st->idx, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void idx_rollback(struct dv_store *st)
{
    if (!sqlite3_get_autocommit(st->idx))
        sqlite3_exec(st->idx, "ROLLBACK", NULL, NULL, NULL);
}

static int idx_set_state(struct dv_store *st, bool needs, const char *reason)
{
    sqlite3_stmt *s = sq_prep(st->idx,
                              "INSERT OR REPLACE INTO meta(key, value) VALUES"
                              " ('state', ?1), ('reason', ?2), ('since', ?3)",
                              "DAOS index: set state");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, needs ? "NEEDS_RESYNC" : "SYNCHRONIZED", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, dv_now());
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: set state");
    sqlite3_finalize(s);
    return rc;
}

int store_mark_needs_resync(struct dv_store *st, const char *reason)
{
    if (!has_daos(st))
        return 0; /* no index to mark */
    /* Keep the first reason: it is the one the operator needs to see. */
    if (store_needs_resync(st))
        return 0;
    return idx_set_state(st, true, reason);
}

bool store_needs_resync(struct dv_store *st)
{
    if (!has_daos(st))
        return false;
    sqlite3_stmt *s = sq_prep(st->idx, "SELECT value FROM meta WHERE key = 'state'", "DAOS index");
    if (!s)
        return false;
    bool needs = false;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        needs = v && strcmp(v, "NEEDS_RESYNC") == 0;
    }
    sqlite3_finalize(s);
    return needs;
}

/* Lowest subdirectory with room; counts one more file in it. Inside an index transaction. */
static int idx_take_slot(struct dv_store *st, int *subdir)
{
    sqlite3_stmt *s =
        sq_prep(st->idx, "SELECT subdir FROM subdirs WHERE count < ?1 ORDER BY subdir LIMIT 1",
                "DAOS index: choose subdirectory");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, st->cfg->server.max_files_per_subdir);
    int rc = sqlite3_step(s), d = 0;
    if (rc == SQLITE_ROW)
        d = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(st->idx, "DAOS index: choose subdirectory");
    if (d == 0) {
        /* All full: the first number not in use (gaps are reused). */
        s = sq_prep(st->idx,
                    "SELECT coalesce((SELECT min(subdir) + 1 FROM subdirs WHERE subdir + 1 NOT IN"
                    " (SELECT subdir FROM subdirs)), 1)",
                    "DAOS index: new subdirectory");
        if (!s)
            return -1;
        if (sqlite3_step(s) == SQLITE_ROW)
            d = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        if (d < 1 || d > MAX_SUBDIR) {
            dv_seterr("DAOS repository is full (%d subdirectories of %ld objects)", MAX_SUBDIR,
                      st->cfg->server.max_files_per_subdir);
            return -1;
        }
    }
    s = sq_prep(st->idx,
                "INSERT INTO subdirs(subdir, count) VALUES (?1, 1)"
                " ON CONFLICT(subdir) DO UPDATE SET count = count + 1",
                "DAOS index: count subdirectory");
    if (!s)
        return -1;
    sqlite3_bind_int(s, 1, d);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: count subdirectory");
    sqlite3_finalize(s);
    *subdir = d;
    return rc;
}

static int idx_free_slot(struct dv_store *st, int subdir)
{
    sqlite3_stmt *s =
        sq_prep(st->idx, "UPDATE subdirs SET count = max(count - 1, 0) WHERE subdir = ?1",
                "DAOS index: uncount subdirectory");
    if (!s)
        return -1;
    sqlite3_bind_int(s, 1, subdir);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: subdirectory");
    sqlite3_finalize(s);
    return rc;
}

/*
 * Rewrite daos.cfg from the index's subdirectory counts. Writers in several processes and
 * threads serialise on an flock of .daos.cfg.lock, and each reads the counts while holding
 * it, so the last file written is the newest state.
 */
static int cfg_write(struct dv_store *st)
{
    /* beneath the DAOS directory (fsb.h): the lock and the file are never a planted link or
     * FIFO, the new file is written beside daos.cfg (O_EXCL) and renamed over it */
    if (!st->daos) {
        no_daos();
        return -1;
    }
    char *tmp =
        dv_asprintf(".daos.cfg.%ld.%u.tmp", (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    int rc = -1, lfd = fsb_openat(st->daos, ".daos.cfg.lock", O_RDWR | O_CREAT, 0640);
    char *text = NULL;
    size_t len = 0, cap = 0;
    struct fsb_tmp t;
    memset(&t, 0, sizeof t);
    if (lfd < 0)
        goto out;
    if (flock(lfd, LOCK_EX) != 0) {
        dv_syserr("lock %s/.daos.cfg.lock", fsb_path(st->daos));
        goto out;
    }
    sqlite3_stmt *s = sq_prep(st->idx, "SELECT subdir, count FROM subdirs ORDER BY subdir",
                              "DAOS index: read subdirectories");
    if (!s)
        goto out;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        char line[64];
        int n = snprintf(line, sizeof line, "%04d %lld\n", sqlite3_column_int(s, 0),
                         (long long)sqlite3_column_int64(s, 1));
        if (len + (size_t)n + 1 > cap) {
            cap = cap ? cap * 2 : 4096;
            text = dv_realloc(text, cap);
        }
        memcpy(text + len, line, (size_t)n);
        len += (size_t)n;
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE) {
        sq_fail(st->idx, "DAOS index: read subdirectories");
        goto out;
    }
    if (fsb_tmp_open(st->daos, "daos.cfg", tmp, 0640, 0, &t) != 0)
        goto out;
    if (dv_write_all(t.fd, text ? text : "", len) != 0) {
        dv_syserr("write %s", t.path);
        goto out;
    }
    rc = fsb_tmp_commit(&t, 0);
out:
    fsb_tmp_done(&t); /* removes the temporary unless it was renamed */
    if (lfd >= 0)
        close(lfd); /* drops the flock */
    free(text);
    free(tmp);
    return rc;
}

/* After the index was recreated: take subdirectory counts from daos.cfg if it is there. */
static void cfg_load_counts(struct dv_store *st)
{
    char *text;
    size_t len;
    /* beneath the DAOS directory: a regular file of at most 1 MiB (never a FIFO) */
    if (st->daos && fsb_read_capped(st->daos, "daos.cfg", 1u << 20, &text, &len) == 0) {
        sqlite3_stmt *s = sq_prep(
            st->idx, "INSERT OR REPLACE INTO subdirs(subdir, count) VALUES (?1, ?2)", "DAOS index");
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); s && line;
             line = strtok_r(NULL, "\n", &save)) {
            int d;
            long long c;
            if (sscanf(line, "%d %lld", &d, &c) == 2 && d >= 1 && d <= MAX_SUBDIR && c >= 0) {
                sqlite3_bind_int(s, 1, d);
                sqlite3_bind_int64(s, 2, c);
                sqlite3_step(s);
                sqlite3_reset(s);
            }
        }
        sqlite3_finalize(s);
        free(text);
    }
}

static const char IDX_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS dit(path TEXT PRIMARY KEY, replica_id TEXT, dbiid TEXT,"
    " nrefs INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS doi(name TEXT PRIMARY KEY, subdir INTEGER NOT NULL,"
    " size INTEGER NOT NULL, refcount INTEGER NOT NULL, zero_since INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS doi_zero ON doi(zero_since) WHERE zero_since IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS subdirs(subdir INTEGER PRIMARY KEY, count INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '1');";

static int idx_try_open(struct dv_store *st)
{
    if (sq_open(st->idx_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->idx) != 0)
        return -1;
    if (sq_exec(st->idx, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", "DAOS index") != 0 ||
        sq_exec(st->idx, "BEGIN IMMEDIATE", "DAOS index") != 0 ||
        sq_exec(st->idx, IDX_SCHEMA, "DAOS index: schema") != 0) {
        int ec = sqlite3_errcode(st->idx) & 0xff;
        sqlite3_close(st->idx);
        st->idx = NULL;
        return ec == SQLITE_NOTADB || ec == SQLITE_CORRUPT ? -2 : -1;
    }
    return 0; /* transaction left open for the caller */
}

static void unlink_sidecars(const char *db)
{
    char *w = dv_asprintf("%s-wal", db), *m = dv_asprintf("%s-shm", db);
    unlink(w);
    unlink(m);
    free(w);
    free(m);
}

/* Is there anything a fresh index should know about (NLO subdirectories, databases)? */
static bool server_has_content(struct dv_store *st)
{
    bool any = false;
    DIR *d = opendir(st->cfg->server.daos_dir);
    if (d) {
        struct dirent *e;
        while (!any && (e = readdir(d)) != NULL)
            any = subdir_num(e->d_name) > 0 || strcmp(e->d_name, "daos.cfg") == 0;
        closedir(d);
    }
    char **dbs = NULL;
    size_t n = 0;
    if (!any && dbglob_list(st->cfg, &dbs, &n) == 0)
        any = n > 0;
    dbglob_free(dbs);
    return any;
}

static int idx_open(struct dv_store *st)
{
    st->idx_path = dv_asprintf("%s/daoscat.db", st->cfg->server.daos_dir);
    bool existed = access(st->idx_path, F_OK) == 0;
    char reason[DV_ERR_MAX + 64] = "";
    if (!existed) {
        unlink_sidecars(st->idx_path); /* a stale WAL must not be replayed into a new index */
        if (server_has_content(st))
            snprintf(reason, sizeof reason, "DAOS index %s was missing (recreated empty)",
                     st->idx_path);
    }
    int orc = idx_try_open(st);
    if (orc != 0) {
        if (!existed || orc != -2)
            return -1;
        /* Unreadable: keep it aside for inspection, start a new one. */
        snprintf(reason, sizeof reason, "DAOS index was unreadable (%s); recreated empty",
                 dv_err());
        char *bad = dv_asprintf("%s.bad.%lld", st->idx_path, (long long)dv_now());
        if (rename(st->idx_path, bad) != 0 && errno != ENOENT) {
            dv_syserr("move unreadable DAOS index aside to %s", bad);
            free(bad);
            return -1;
        }
        free(bad);
        unlink_sidecars(st->idx_path);
        if (idx_try_open(st) != 0)
            return -1;
    }
    int rc = 0;
    if (reason[0]) {
        cfg_load_counts(st);
        rc = idx_set_state(st, true, reason);
    } else {
        rc = sq_exec(st->idx,
                     "INSERT OR IGNORE INTO meta(key, value) VALUES ('state', 'SYNCHRONIZED'),"
                     " ('reason', ''), ('since', CAST(strftime('%s','now') AS INTEGER))",
                     "DAOS index: state");
    }
    if (rc != 0) {
        idx_rollback(st);
        return -1;
    }
    return idx_commit(st);
}

struct dv_store *store_open(const struct dv_config *cfg)
{
    struct dv_store *st = dv_calloc(1, sizeof *st);
    st->cfg = cfg;
    if (!dv_config_has_daos(cfg)) { /* databases only: no index, no key */
        if (dv_mkdirs(cfg->server.data_dir, 0750) != 0) {
            store_free(st);
            return NULL;
        }
        return st;
    }
    key_load(st);
    if (dv_mkdirs(cfg->server.data_dir, 0750) != 0 || dv_mkdirs(cfg->server.daos_dir, 0750) != 0 ||
        !(st->daos = fsb_open(cfg->server.daos_dir)) || idx_open(st) != 0) {
        store_free(st);
        return NULL;
    }
    return st;
}

void store_free(struct dv_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->idx);
    fsb_close(st->daos);
    OPENSSL_cleanse(st->key, sizeof st->key);
    free(st->key_err);
    free(st->idx_path);
    free(st);
}

const struct dv_config *store_config(const struct dv_store *st)
{
    return st->cfg;
}

/* ---- references in the index --------------------------------------------------------------- */

static int dit_adjust(struct dv_store *st, const char *ditkey, int64_t delta)
{
    sqlite3_stmt *s = sq_prep(st->idx, "UPDATE dit SET nrefs = max(nrefs + ?1, 0) WHERE path = ?2",
                              "DAOS index: DIT");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, delta);
    sqlite3_bind_text(s, 2, ditkey, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: DIT");
    sqlite3_finalize(s);
    return rc;
}

/*
 * Release n references (names may repeat) held by database ditkey. One short index
 * transaction. A refcount that would go below 0 marks NEEDS_RESYNC.
 */
static int refs_release(struct dv_store *st, const char *ditkey, const struct namelist *l)
{
    if (l->n == 0 || !has_daos(st))
        return 0; /* without DAOS nothing was counted */
    if (idx_begin(st) != 0)
        return -1;
    sqlite3_stmt *s = sq_prep(st->idx,
                              "UPDATE doi SET refcount = refcount - 1, zero_since = CASE WHEN"
                              " refcount - 1 <= 0 THEN coalesce(zero_since, ?2) ELSE NULL END"
                              " WHERE name = ?1 AND refcount > 0",
                              "DAOS index: release");
    if (!s) {
        idx_rollback(st);
        return -1;
    }
    int64_t now = dv_now();
    const char *bad = NULL;
    for (size_t i = 0; i < l->n; i++) {
        sqlite3_bind_text(s, 1, l->v[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now);
        if (sqlite3_step(s) != SQLITE_DONE) {
            sq_fail(st->idx, "DAOS index: release");
            sqlite3_finalize(s);
            idx_rollback(st);
            return -1;
        }
        if (sqlite3_changes(st->idx) == 0 && !bad)
            bad = l->v[i];
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    int rc = dit_adjust(st, ditkey, -(int64_t)l->n);
    if (rc == 0 && bad) {
        char reason[256];
        snprintf(reason, sizeof reason, "refcount of %.84s in %.100s went below 0", bad, ditkey);
        if (!store_needs_resync(st))
            rc = idx_set_state(st, true, reason);
    }
    if (rc != 0) {
        idx_rollback(st);
        return -1;
    }
    return idx_commit(st);
}

/*
 * Count one reference per r[i] in the index for database db, then make sure each NLO file
 * exists: a new one (r->data set) is written outside the index transaction. r->data NULL
 * means the file must already be in the repository (r->subdir found by the caller).
 * On success the names are recorded in db->reserved (rolled back with the transaction).
 */
static int refs_acquire(struct store_db *db, struct ref *r, size_t n)
{
    struct dv_store *st = db->st;
    if (n == 0)
        return 0;
    if (!has_daos(st))
        return no_daos();
    if (idx_begin(st) != 0)
        return -1;
    sqlite3_stmt *sel = sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index");
    sqlite3_stmt *upd = sq_prep(st->idx,
                                "UPDATE doi SET refcount = refcount + 1, zero_since = NULL"
                                " WHERE name = ?1",
                                "DAOS index");
    sqlite3_stmt *ins = sq_prep(st->idx,
                                "INSERT INTO doi(name, subdir, size, refcount) VALUES"
                                " (?1, ?2, ?3, 1)",
                                "DAOS index");
    bool unindexed = false, newslots = false;
    int rc = sel && upd && ins ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        r[i].created = false;
        sqlite3_bind_text(sel, 1, r[i].name, -1, SQLITE_STATIC);
        int sr = sqlite3_step(sel);
        if (sr == SQLITE_ROW) {
            r[i].subdir = sqlite3_column_int(sel, 0);
            sqlite3_reset(sel);
            sqlite3_bind_text(upd, 1, r[i].name, -1, SQLITE_STATIC);
            rc = sqlite3_step(upd) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: reference");
            sqlite3_reset(upd);
            continue;
        }
        sqlite3_reset(sel);
        if (sr != SQLITE_DONE) {
            rc = sq_fail(st->idx, "DAOS index: lookup");
            break;
        }
        if (r[i].data) {
            rc = idx_take_slot(st, &r[i].subdir);
            r[i].created = true;
            newslots = true;
        } else {
            unindexed = true; /* a file in the repository the index does not know */
        }
        if (rc == 0) {
            sqlite3_bind_text(ins, 1, r[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 2, r[i].subdir);
            sqlite3_bind_int64(ins, 3, (sqlite3_int64)name_size(r[i].name));
            rc = sqlite3_step(ins) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: new object");
            sqlite3_reset(ins);
        }
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sqlite3_finalize(ins);
    if (rc == 0)
        rc = dit_adjust(st, db->ditkey, (int64_t)n);
    if (rc == 0 && unindexed && !store_needs_resync(st))
        rc = idx_set_state(st, true, "an NLO in the repository was not in the DAOS index");
    if (rc != 0 || idx_commit(st) != 0) {
        idx_rollback(st);
        return -1;
    }
    struct namelist taken = {0};
    for (size_t i = 0; i < n; i++)
        nl_add(&taken, r[i].name);
    /* Outside the index transaction: write the files that are not there yet. */
    for (size_t i = 0; i < n; i++) {
        if (!r[i].data)
            continue;
        char *p = nlo_file(st, r[i].subdir, r[i].name);
        bool present = !r[i].created && access(p, F_OK) == 0;
        free(p);
        if (present)
            continue;
        unsigned char *bytes;
        size_t len;
        if (nlo_encode(st, r[i].name, r[i].data, r[i].size, &bytes, &len) != 0 ||
            (rc = nlo_put_bytes(st, r[i].subdir, r[i].name, bytes, len, -1), free(bytes), rc) !=
                0) {
            char keep[DV_ERR_MAX];
            snprintf(keep, sizeof keep, "%s", dv_err());
            refs_release(st, db->ditkey, &taken);
            nl_free(&taken);
            dv_seterr("%s", keep);
            return -1;
        }
    }
    for (size_t i = 0; i < taken.n; i++)
        nl_add(&db->reserved, taken.v[i]);
    nl_free(&taken);
    if (newslots)
        return cfg_write(st);
    return 0;
}

/* ---- databases ------------------------------------------------------------------------------ */

static const char DB_SCHEMA[] =
    "CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE notes(note_id INTEGER PRIMARY KEY, unid TEXT UNIQUE NOT NULL, form TEXT,"
    " subject TEXT, sender TEXT, created INTEGER, modified INTEGER, deleted INTEGER, body TEXT);"
    "CREATE TABLE attachments(att_id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL, name TEXT,"
    " size INTEGER, nlo TEXT, data BLOB);"
    "CREATE INDEX attachments_note ON attachments(note_id);"
    "CREATE INDEX attachments_nlo ON attachments(nlo) WHERE nlo IS NOT NULL;"
    "CREATE INDEX notes_deleted ON notes(deleted) WHERE deleted IS NOT NULL;";

static char *dit_key(const struct dv_store *st, const char *abs)
{
    size_t n = strlen(st->cfg->server.data_dir);
    if (strncmp(abs, st->cfg->server.data_dir, n) == 0 && abs[n] == '/')
        return dv_strdup(abs + n + 1);
    return dv_strdup(abs);
}

static void db_read_info(sqlite3 *h, const char *key, char *out, size_t n)
{
    out[0] = '\0';
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, "SELECT value FROM dbinfo WHERE key = ?1", -1, &s, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(s);
        return;
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

static bool db_has_table(sqlite3 *h, const char *table)
{
    sqlite3_stmt *s = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
        yes = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return yes;
}

static struct store_db *db_new(struct dv_store *st, const char *path)
{
    struct store_db *db = dv_calloc(1, sizeof *db);
    db->st = st;
    db->path = path[0] == '/' ? dv_strdup(path) : dv_path_join(st->cfg->server.data_dir, path);
    db->ditkey = dit_key(st, db->path);
    return db;
}

static void random_hex(char out[STORE_UNID_LEN + 1])
{
    unsigned char b[16];
    dv_random(b, sizeof b);
    dv_hex(b, sizeof b, out);
}

struct store_db *store_db_create(struct dv_store *st, const char *relpath, const char *title)
{
    return store_db_create_ps(st, relpath, title, 0);
}

struct store_db *store_db_create_ps(struct dv_store *st, const char *relpath, const char *title,
                                    unsigned page_size)
{
    struct store_db *db = db_new(st, relpath);
    if (page_size && (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)))) {
        dv_seterr("page size %u is not a power of two in 512..65536", page_size);
        goto fail;
    }
    if (access(db->path, F_OK) == 0) {
        dv_seterr("database %s already exists", db->path);
        goto fail;
    }
    char *dir = dv_dirname(db->path);
    int mk = dv_mkdirs(dir, 0750);
    free(dir);
    if (mk != 0 ||
        sq_open(db->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
                &db->h) != 0)
        goto fail;
    random_hex(db->replica);
    random_hex(db->dbiid);
    if (page_size) { /* before the first write: WAL mode fixes it */
        char *q = dv_asprintf("PRAGMA page_size=%u", page_size);
        int r = sq_exec(db->h, q, db->path);
        free(q);
        if (r != 0)
            goto fail;
    }
    if (sq_exec(db->h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", db->path) != 0 ||
        sq_exec(db->h, "BEGIN IMMEDIATE", db->path) != 0 ||
        sq_exec(db->h, DB_SCHEMA, db->path) != 0)
        goto fail;
    sqlite3_stmt *s = sq_prep(db->h,
                              "INSERT INTO dbinfo(key, value) VALUES ('replica_id', ?1),"
                              " ('dbiid', ?2), ('title', ?3)",
                              db->path);
    if (!s)
        goto fail;
    sqlite3_bind_text(s, 1, db->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, db->dbiid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, title ? title : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        sq_fail(db->h, db->path);
        goto fail;
    }
    if (sq_exec(db->h, "COMMIT", db->path) != 0)
        goto fail;
    if (!has_daos(st))
        return db;
    s = sq_prep(st->idx,
                "INSERT OR REPLACE INTO dit(path, replica_id, dbiid, nrefs) VALUES (?1, ?2, ?3, 0)",
                "DAOS index: DIT");
    if (!s)
        goto fail;
    sqlite3_bind_text(s, 1, db->ditkey, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, db->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, db->dbiid, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        sq_fail(st->idx, "DAOS index: DIT");
        goto fail;
    }
    return db;
fail:
    dv_preferr("create database %s", relpath);
    store_db_close(db);
    return NULL;
}

struct store_db *store_db_open(struct dv_store *st, const char *path)
{
    struct store_db *db = db_new(st, path);
    if (access(db->path, F_OK) != 0) {
        dv_syserr("database %s", db->path);
        goto fail;
    }
    if (sq_open(db->path, SQLITE_OPEN_READWRITE, &db->h) != 0)
        goto fail;
    if (sq_exec(db->h, "PRAGMA synchronous=NORMAL", db->path) != 0)
        goto fail;
    db_read_info(db->h, "replica_id", db->replica, sizeof db->replica);
    db_read_info(db->h, "dbiid", db->dbiid, sizeof db->dbiid);
    /* A database the index should know (below data_dir, matching the globs). */
    if (has_daos(st) && db->ditkey[0] != '/' && dbglob_match_any(st->cfg, db->ditkey)) {
        sqlite3_stmt *s = sq_prep(
            st->idx, "SELECT coalesce(replica_id, '') FROM dit WHERE path = ?1", "DAOS index: DIT");
        if (!s)
            goto fail;
        sqlite3_bind_text(s, 1, db->ditkey, -1, SQLITE_STATIC);
        char reason[512] = "";
        if (sqlite3_step(s) != SQLITE_ROW)
            snprintf(reason, sizeof reason, "database %.300s is not in the DAOS index", db->ditkey);
        else if (strcmp((const char *)sqlite3_column_text(s, 0), db->replica) != 0)
            snprintf(reason, sizeof reason, "replica id of database %.300s changed", db->ditkey);
        sqlite3_finalize(s);
        if (reason[0] && store_mark_needs_resync(st, reason) != 0)
            goto fail;
    }
    return db;
fail:
    store_db_close(db);
    return NULL;
}

static void db_abort(struct store_db *db)
{
    if (db->in_tx)
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    db->in_tx = false;
    if (db->reserved.n) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        refs_release(db->st, db->ditkey, &db->reserved); /* best effort: too high is safe */
        dv_seterr("%s", keep);
    }
    db->reserved.n = 0;
    db->released.n = 0;
}

void store_db_close(struct store_db *db)
{
    if (!db)
        return;
    if (db->h)
        db_abort(db);
    sqlite3_close(db->h);
    nl_free(&db->reserved);
    nl_free(&db->released);
    free(db->path);
    free(db->ditkey);
    free(db);
}

const char *store_db_path(const struct store_db *db)
{
    return db->path;
}

struct sqlite3 *store_db_sqlite(struct store_db *db)
{
    return db->h;
}

const char *store_db_replica_id(const struct store_db *db)
{
    return db->replica;
}

int store_db_begin(struct store_db *db)
{
    if (db->in_tx) {
        dv_seterr("%s: a transaction is already open", db->path);
        return -1;
    }
    if (sq_exec(db->h, "BEGIN IMMEDIATE", db->path) != 0)
        return -1;
    db->in_tx = true;
    return 0;
}

int store_db_commit(struct store_db *db)
{
    if (!db->in_tx) {
        dv_seterr("%s: no transaction to commit", db->path);
        return -1;
    }
    if (sq_exec(db->h, "COMMIT", db->path) != 0) {
        db_abort(db);
        return -1;
    }
    db->in_tx = false;
    db->reserved.n = 0;
    int rc = refs_release(db->st, db->ditkey, &db->released);
    db->released.n = 0;
    if (rc != 0)
        dv_preferr("%s: committed, but the DAOS index was not updated", db->path);
    return rc;
}

int store_db_rollback(struct store_db *db)
{
    db_abort(db);
    return 0;
}

/* Run an operation in the caller's transaction, or its own. */
static int op_begin(struct store_db *db, bool *own)
{
    *own = !db->in_tx;
    return *own ? store_db_begin(db) : 0;
}

static int op_end(struct store_db *db, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc != 0) {
        db_abort(db);
        return -1;
    }
    return store_db_commit(db);
}

static int insert_att(struct store_db *db, sqlite3_stmt *s, int64_t note_id, const char *name,
                      int64_t size, const char *nlo, const void *data, size_t dlen)
{
    sqlite3_bind_int64(s, 1, note_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, size);
    if (nlo) {
        sqlite3_bind_text(s, 4, nlo, -1, SQLITE_STATIC);
        sqlite3_bind_null(s, 5);
    } else {
        sqlite3_bind_null(s, 4);
        sqlite3_bind_blob64(s, 5, data ? data : "", dlen, SQLITE_STATIC);
    }
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(db->h, db->path);
    sqlite3_reset(s);
    return rc;
}

/* Attachments of min_object_size and up become NLOs; without DAOS every one is inline. */
static bool att_is_nlo(const struct dv_store *st, size_t size)
{
    return has_daos(st) && (long)size >= st->cfg->server.min_object_size;
}

int store_doc_add(struct store_db *db, const struct store_doc *doc, const struct store_att *att,
                  size_t natt, char unid_out[STORE_UNID_LEN + 1])
{
    char unid[STORE_UNID_LEN + 1];
    random_hex(unid);
    struct ref *r = dv_calloc(natt ? natt : 1, sizeof *r);
    size_t nr = 0;
    for (size_t i = 0; i < natt; i++) {
        if (att_is_nlo(db->st, att[i].size)) {
            store_nlo_name(att[i].data, att[i].size, r[nr].name);
            r[nr].data = att[i].data;
            r[nr].size = att[i].size;
            nr++;
        }
    }
    bool own;
    int rc = op_begin(db, &own);
    if (rc != 0) {
        free(r);
        return -1;
    }
    /* The database write lock is held from here: references first (files written outside the
     * index transaction), then the rows. */
    rc = refs_acquire(db, r, nr);
    int64_t now = dv_now(), created = doc->created ? doc->created : now;
    sqlite3_stmt *s = rc == 0 ? sq_prep(db->h,
                                        "INSERT INTO notes(unid, form, subject, sender,"
                                        " created, modified, body) VALUES (?1,?2,?3,?4,?5,?5,?6)",
                                        db->path)
                              : NULL;
    if (s) {
        sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, doc->form, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, doc->subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, doc->sender, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, created);
        sqlite3_bind_text(s, 6, doc->body, -1, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(db->h, db->path);
        sqlite3_finalize(s);
    } else {
        rc = -1;
    }
    int64_t note_id = sqlite3_last_insert_rowid(db->h);
    s = rc == 0 ? sq_prep(db->h,
                          "INSERT INTO attachments(note_id, name, size, nlo, data) VALUES"
                          " (?1, ?2, ?3, ?4, ?5)",
                          db->path)
                : NULL;
    for (size_t i = 0, k = 0; s && rc == 0 && i < natt; i++) {
        bool big = att_is_nlo(db->st, att[i].size);
        rc = insert_att(db, s, note_id, att[i].name, (int64_t)att[i].size, big ? r[k].name : NULL,
                        att[i].data, att[i].size);
        if (big)
            k++;
    }
    if (natt && !s)
        rc = -1;
    sqlite3_finalize(s);
    free(r);
    rc = op_end(db, own, rc);
    if (rc == 0 && unid_out)
        memcpy(unid_out, unid, sizeof unid);
    return rc;
}

int store_doc_delete(struct store_db *db, const char *unid, int64_t when)
{
    if (!when)
        when = dv_now();
    sqlite3_stmt *s = sq_prep(db->h,
                              "UPDATE notes SET deleted = ?1, modified = ?1 WHERE unid = ?2"
                              " AND deleted IS NULL",
                              db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, when);
    sqlite3_bind_text(s, 2, unid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(db->h) == 0) {
        s = sq_prep(db->h, "SELECT 1 FROM notes WHERE unid = ?1", db->path);
        if (!s)
            return -1;
        sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_ROW) {
            dv_seterr("%s: no document %s", db->path, unid);
            rc = -1;
        }
        sqlite3_finalize(s);
    }
    return rc;
}

int store_purge(struct store_db *db, int64_t before, size_t *ndocs)
{
    bool own;
    if (op_begin(db, &own) != 0)
        return -1;
    size_t mark = db->released.n;
    int rc = 0;
    sqlite3_stmt *s = sq_prep(db->h,
                              "SELECT a.nlo FROM notes n JOIN attachments a ON a.note_id ="
                              " n.note_id WHERE n.deleted IS NOT NULL AND n.deleted <= ?1"
                              " AND a.nlo IS NOT NULL",
                              db->path);
    if (!s)
        rc = -1;
    else {
        sqlite3_bind_int64(s, 1, before);
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            nl_add(&db->released, (const char *)sqlite3_column_text(s, 0));
        if (r != SQLITE_DONE)
            rc = sq_fail(db->h, db->path);
        sqlite3_finalize(s);
    }
    size_t n = 0;
    if (rc == 0) {
        s = sq_prep(db->h,
                    "DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes"
                    " WHERE deleted IS NOT NULL AND deleted <= ?1)",
                    db->path);
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_int64(s, 1, before);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(db->h, db->path);
            sqlite3_finalize(s);
        }
    }
    if (rc == 0) {
        s = sq_prep(db->h, "DELETE FROM notes WHERE deleted IS NOT NULL AND deleted <= ?1",
                    db->path);
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_int64(s, 1, before);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(db->h, db->path);
            n = (size_t)sqlite3_changes(db->h);
            sqlite3_finalize(s);
        }
    }
    if (rc != 0)
        db->released.n = mark;
    rc = op_end(db, own, rc);
    if (rc == 0 && ndocs)
        *ndocs = n;
    return rc;
}

struct copied_att {
    char *name, *nlo;
    int64_t size;
    void *data;
    size_t dlen;
};

int store_doc_copy(struct store_db *src, const char *unid, struct store_db *dst)
{
    struct dv_store *st = dst->st;
    sqlite3_stmt *s = sq_prep(src->h,
                              "SELECT note_id, form, subject, sender, created, modified,"
                              " deleted, body FROM notes WHERE unid = ?1",
                              src->path);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        dv_seterr("%s: no document %s", src->path, unid);
        return -1;
    }
    int64_t src_note = sqlite3_column_int64(s, 0);
    char *col[8] = {0};
    for (int i = 1; i < 8; i++)
        if (sqlite3_column_type(s, i) != SQLITE_NULL)
            col[i] = dv_strdup((const char *)sqlite3_column_text(s, i));
    int64_t created = sqlite3_column_int64(s, 4), modified = sqlite3_column_int64(s, 5);
    bool deleted = sqlite3_column_type(s, 6) != SQLITE_NULL;
    int64_t deltime = sqlite3_column_int64(s, 6);
    sqlite3_finalize(s);

    struct copied_att *a = NULL;
    size_t na = 0, cap = 0, nr = 0;
    struct ref *r = NULL;
    int rc = 0;
    s = sq_prep(src->h,
                "SELECT name, size, nlo, data FROM attachments WHERE note_id = ?1"
                " ORDER BY att_id",
                src->path);
    if (!s)
        rc = -1;
    else {
        sqlite3_bind_int64(s, 1, src_note);
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (na == cap) {
                cap = cap ? cap * 2 : 8;
                a = dv_realloc(a, cap * sizeof *a);
            }
            struct copied_att *c = &a[na++];
            memset(c, 0, sizeof *c);
            if (sqlite3_column_type(s, 0) != SQLITE_NULL)
                c->name = dv_strdup((const char *)sqlite3_column_text(s, 0));
            c->size = sqlite3_column_int64(s, 1);
            if (sqlite3_column_type(s, 2) != SQLITE_NULL)
                c->nlo = dv_strdup((const char *)sqlite3_column_text(s, 2));
            else if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
                c->dlen = (size_t)sqlite3_column_bytes(s, 3);
                c->data = dv_malloc(c->dlen ? c->dlen : 1);
                memcpy(c->data, sqlite3_column_blob(s, 3), c->dlen);
            }
        }
        sqlite3_finalize(s);
    }
    /* Every referenced NLO must be in the repository (found outside any transaction). */
    r = dv_calloc(na ? na : 1, sizeof *r);
    for (size_t i = 0; rc == 0 && i < na; i++) {
        if (!a[i].nlo)
            continue;
        if (!has_daos(st)) {
            dv_seterr("document %s has an NLO attachment (%s): %s", unid, a[i].nlo, DV_NO_DAOS);
            rc = -1;
            break;
        }
        char *p = store_nlo_path(st, a[i].nlo);
        if (!p) {
            dv_seterr("document %s references NLO %s, which is not in the repository"
                      " (recover it first)",
                      unid, a[i].nlo);
            rc = -1;
            break;
        }
        char *slash = strrchr(p, '/');
        *slash = '\0';
        r[nr].subdir = subdir_num(strrchr(p, '/') + 1);
        free(p);
        snprintf(r[nr].name, sizeof r[nr].name, "%s", a[i].nlo);
        nr++;
    }
    if (rc == 0) {
        s = sq_prep(dst->h, "SELECT 1 FROM notes WHERE unid = ?1", dst->path);
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
            if (sqlite3_step(s) == SQLITE_ROW) {
                dv_seterr("%s already has document %s", dst->path, unid);
                rc = -1;
            }
            sqlite3_finalize(s);
        }
    }
    bool own = false;
    if (rc == 0 && op_begin(dst, &own) == 0) {
        rc = refs_acquire(dst, r, nr);
        s = rc == 0 ? sq_prep(dst->h,
                              "INSERT INTO notes(unid, form, subject, sender, created,"
                              " modified, deleted, body) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                              dst->path)
                    : NULL;
        if (s) {
            sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
            for (int i = 1; i <= 3; i++)
                sqlite3_bind_text(s, i + 1, col[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 5, created);
            sqlite3_bind_int64(s, 6, modified);
            if (deleted)
                sqlite3_bind_int64(s, 7, deltime);
            sqlite3_bind_text(s, 8, col[7], -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(dst->h, dst->path);
            sqlite3_finalize(s);
        } else {
            rc = -1;
        }
        int64_t note_id = sqlite3_last_insert_rowid(dst->h);
        s = rc == 0 ? sq_prep(dst->h,
                              "INSERT INTO attachments(note_id, name, size, nlo, data)"
                              " VALUES (?1, ?2, ?3, ?4, ?5)",
                              dst->path)
                    : NULL;
        for (size_t i = 0; s && rc == 0 && i < na; i++)
            rc = insert_att(dst, s, note_id, a[i].name, a[i].size, a[i].nlo, a[i].data, a[i].dlen);
        if (na && !s)
            rc = -1;
        sqlite3_finalize(s);
        rc = op_end(dst, own, rc);
    } else {
        rc = -1;
    }
    for (size_t i = 0; i < na; i++) {
        free(a[i].name);
        free(a[i].nlo);
        free(a[i].data);
    }
    free(a);
    free(r);
    for (int i = 0; i < 8; i++)
        free(col[i]);
    return rc;
}

int store_att_read(struct store_db *db, int64_t att_id, unsigned char **buf, size_t *len)
{
    sqlite3_stmt *s =
        sq_prep(db->h, "SELECT nlo, data FROM attachments WHERE att_id = ?1", db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, att_id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        dv_seterr("%s: no attachment %lld", db->path, (long long)att_id);
        return -1;
    }
    int rc = 0;
    if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
        char name[STORE_NLO_NAME_LEN + 1];
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
        char *p = store_nlo_path(db->st, name);
        if (!p) {
            char keep[DV_ERR_MAX], reason[512];
            snprintf(keep, sizeof keep, "%s", dv_err());
            snprintf(reason, sizeof reason, "NLO %s referenced by %.300s is missing", name,
                     db->ditkey);
            store_mark_needs_resync(db->st, reason);
            dv_seterr("%s", keep);
            return -1;
        }
        rc = nlo_read_path(db->st, name, p, buf, len);
        free(p);
        return rc;
    }
    size_t n = (size_t)sqlite3_column_bytes(s, 1);
    *buf = dv_malloc(n ? n : 1);
    memcpy(*buf, sqlite3_column_blob(s, 1), n);
    *len = n;
    sqlite3_finalize(s);
    return rc;
}

/* ---- the repository ----------------------------------------------------------------------------
 */

/* Subdirectory numbers present in daos_dir, ascending (malloc'd). */
static int list_subdirs(const struct dv_store *st, int **out, size_t *n)
{
    DIR *d = opendir(st->cfg->server.daos_dir);
    if (!d) {
        dv_syserr("DAOS directory %s", st->cfg->server.daos_dir);
        return -1;
    }
    int *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int k = subdir_num(e->d_name);
        if (k <= 0)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = dv_realloc(v, cap * sizeof *v);
        }
        v[cnt++] = k;
    }
    closedir(d);
    for (size_t i = 1; i < cnt; i++) /* insertion sort: a few thousand at most */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n = cnt;
    return 0;
}

char *store_nlo_path(struct dv_store *st, const char *name)
{
    if (!has_daos(st)) {
        no_daos();
        return NULL;
    }
    if (!store_nlo_name_valid(name)) {
        dv_seterr("'%.100s' is not an NLO name", name);
        return NULL;
    }
    sqlite3_stmt *s = sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index");
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        int d = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
        sqlite3_finalize(s);
        if (d > 0) {
            char *p = nlo_file(st, d, name);
            if (access(p, F_OK) == 0)
                return p;
            free(p);
        }
    }
    int *dirs;
    size_t n;
    if (list_subdirs(st, &dirs, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *p = nlo_file(st, dirs[i], name);
        if (access(p, F_OK) == 0) {
            free(dirs);
            return p;
        }
        free(p);
    }
    free(dirs);
    dv_seterr("NLO %s is not in the repository %s", name, st->cfg->server.daos_dir);
    return NULL;
}

int store_nlo_read(struct dv_store *st, const char *name, unsigned char **buf, size_t *len)
{
    char *p = store_nlo_path(st, name);
    if (!p)
        return -1;
    int rc = nlo_read_path(st, name, p, buf, len);
    free(p);
    return rc;
}

int store_nlo_install(struct dv_store *st, const char *name, const char *src_path, bool *installed)
{
    if (installed)
        *installed = false;
    if (!store_nlo_name_valid(name)) {
        dv_seterr("'%.100s' is not an NLO name", name);
        return -1;
    }
    struct store_install one = {.name = name, .src_path = src_path};
    int rc = store_nlo_install_many(st, &one, 1, NULL);
    if (rc == 0 && installed)
        *installed = one.status == STORE_INSTALL_NEW;
    store_install_done(&one, 1); /* dv_err() already holds a failure's message */
    return rc;
}

/* ---- status, check -----------------------------------------------------------------------------
 */

static int64_t q_int(sqlite3 *h, const char *sql, int64_t bind)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_bind_parameter_count(s) > 0)
            sqlite3_bind_int64(s, 1, bind);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

int store_status(struct dv_store *st, struct store_status *out)
{
    memset(out, 0, sizeof *out);
    if (!has_daos(st))
        return no_daos();
    if (sq_exec(st->idx, "BEGIN", "DAOS index") != 0)
        return -1;
    sqlite3_stmt *s = sq_prep(st->idx, "SELECT key, value FROM meta", "DAOS index");
    if (!s) {
        idx_rollback(st);
        return -1;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *v = (const char *)sqlite3_column_text(s, 1);
        if (!k || !v)
            continue;
        if (strcmp(k, "state") == 0)
            out->needs_resync = strcmp(v, "NEEDS_RESYNC") == 0;
        else if (strcmp(k, "reason") == 0)
            snprintf(out->reason, sizeof out->reason, "%s", v);
        else if (strcmp(k, "since") == 0)
            out->state_since = strtoll(v, NULL, 10);
    }
    sqlite3_finalize(s);
    int64_t cutoff = dv_now() - (int64_t)st->cfg->server.deferred_deletion_days * 86400;
    out->objects = (uint64_t)q_int(st->idx, "SELECT count(*) FROM doi", 0);
    out->bytes = (uint64_t)q_int(st->idx, "SELECT coalesce(sum(size), 0) FROM doi", 0);
    out->references = (uint64_t)q_int(st->idx, "SELECT coalesce(sum(refcount), 0) FROM doi", 0);
    out->referenced_bytes =
        (uint64_t)q_int(st->idx, "SELECT coalesce(sum(size * refcount), 0) FROM doi", 0);
    out->zero_ref = (uint64_t)q_int(st->idx, "SELECT count(*) FROM doi WHERE refcount = 0", 0);
    out->zero_ref_bytes =
        (uint64_t)q_int(st->idx, "SELECT coalesce(sum(size), 0) FROM doi WHERE refcount = 0", 0);
    out->zero_ref_due = (uint64_t)q_int(
        st->idx, "SELECT count(*) FROM doi WHERE refcount = 0 AND zero_since <= ?1", cutoff);
    out->databases = (uint64_t)q_int(st->idx, "SELECT count(*) FROM dit", 0);
    s = sq_prep(st->idx, "SELECT subdir, count FROM subdirs ORDER BY subdir", "DAOS index");
    size_t cap = 0;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        if (out->nsubdirs == cap) {
            cap = cap ? cap * 2 : 16;
            out->subdirs = dv_realloc(out->subdirs, cap * sizeof *out->subdirs);
        }
        out->subdirs[out->nsubdirs].subdir = sqlite3_column_int(s, 0);
        out->subdirs[out->nsubdirs++].count = (long)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    sqlite3_exec(st->idx, "COMMIT", NULL, NULL, NULL);
    return s ? 0 : -1;
}

void store_status_done(struct store_status *s)
{
    if (s) {
        free(s->subdirs);
        s->subdirs = NULL;
        s->nsubdirs = 0;
    }
}

/* replica_id of a database file opened read-only ("" if none). */
static int file_replica(const char *abs, char *out, size_t n)
{
    sqlite3 *h;
    out[0] = '\0';
    if (sq_open(abs, SQLITE_OPEN_READONLY, &h) != 0)
        return -1;
    if (db_has_table(h, "dbinfo"))
        db_read_info(h, "replica_id", out, n);
    sqlite3_close(h);
    return 0;
}

int store_check(struct dv_store *st)
{
    if (!has_daos(st))
        return no_daos();
    char **dbs;
    size_t n;
    if (dbglob_list(st->cfg, &dbs, &n) != 0)
        return -1;
    sqlite3_stmt *s = sq_prep(st->idx,
                              "SELECT path, coalesce(replica_id, '') FROM dit"
                              " WHERE path NOT LIKE '/%' ORDER BY path",
                              "DAOS index");
    if (!s) {
        dbglob_free(dbs);
        return -1;
    }
    char reason[600] = "";
    size_t diffs = 0, i = 0;
    int r = sqlite3_step(s);
    /* Merge the two sorted lists (both in strcmp order: SQLite's default BINARY collation). */
    while (i < n || r == SQLITE_ROW) {
        const char *dp = r == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        int c = i >= n ? 1 : !dp ? -1 : strcmp(dbs[i], dp);
        char why[600] = "";
        if (c < 0) {
            snprintf(why, sizeof why, "database %.300s appeared outside the store", dbs[i]);
            i++;
        } else if (c > 0) {
            snprintf(why, sizeof why, "database %.300s disappeared", dp);
            r = sqlite3_step(s);
        } else {
            char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
            char rep[64];
            if (file_replica(abs, rep, sizeof rep) == 0 &&
                strcmp(rep, (const char *)sqlite3_column_text(s, 1)) != 0)
                snprintf(why, sizeof why, "replica id of database %.300s changed outside the store",
                         dbs[i]);
            free(abs);
            i++;
            r = sqlite3_step(s);
        }
        if (why[0] && diffs++ == 0)
            snprintf(reason, sizeof reason, "%s", why);
    }
    sqlite3_finalize(s);
    dbglob_free(dbs);
    if (diffs > 1) {
        size_t l = strlen(reason);
        snprintf(reason + l, sizeof reason - l, " (and %zu more differences)", diffs - 1);
    }
    return diffs ? store_mark_needs_resync(st, reason) : 0;
}

/* ---- resync ---------------------------------------------------------------------------------- */

int store_resync(struct dv_store *st, struct dv_job *job, struct store_resync_counts *counts)
{
    if (!has_daos(st))
        return no_daos();
    struct store_resync_counts c = {0};
    int *dirs = NULL;
    size_t ndirs = 0;
    char **dbs = NULL;
    size_t ndbs = 0;
    if (list_subdirs(st, &dirs, &ndirs) != 0 || dbglob_list(st->cfg, &dbs, &ndbs) != 0) {
        free(dirs);
        return -1;
    }
    sqlite3_stmt *ins = NULL, *cnt = NULL, *ref = NULL, *dit = NULL;
    int rc = -1;
    int64_t now = dv_now();
    if (idx_begin(st) != 0)
        goto out;
    if (sq_exec(
            st->idx,
            "DROP TABLE IF EXISTS temp.old_zero;"
            "CREATE TEMP TABLE old_zero(name TEXT PRIMARY KEY, zero_since INTEGER) WITHOUT ROWID;"
            "INSERT INTO temp.old_zero SELECT name, zero_since FROM doi WHERE zero_since IS NOT "
            "NULL;"
            "DELETE FROM doi; DELETE FROM dit; DELETE FROM subdirs;"
            /* Objects and references are gathered in append-only scratch tables, then
             * written to the DOI in name order: inserting 1,000,000 names in directory
             * order (random) into the DOI's B-tree missed the page cache on every row. */
            "DROP TABLE IF EXISTS temp.scan; DROP TABLE IF EXISTS temp.refs;"
            "DROP TABLE IF EXISTS temp.agg;"
            "CREATE TEMP TABLE scan(name TEXT NOT NULL, subdir INTEGER NOT NULL,"
            " size INTEGER NOT NULL);"
            "CREATE TEMP TABLE refs(db INTEGER NOT NULL, name TEXT NOT NULL, k INTEGER NOT NULL);",
            "resync: clear the index") != 0)
        goto out;
    ins =
        sq_prep(st->idx, "INSERT INTO temp.scan(name, subdir, size) VALUES (?1, ?2, ?3)", "resync");
    cnt = sq_prep(st->idx, "INSERT INTO subdirs(subdir, count) VALUES (?1, ?2)", "resync");
    ref = sq_prep(st->idx, "INSERT INTO temp.refs(db, name, k) VALUES (?1, ?2, ?3)", "resync");
    dit = sq_prep(
        st->idx,
        "INSERT OR REPLACE INTO dit(path, replica_id, dbiid, nrefs) VALUES (?1, ?2, ?3, ?4)",
        "resync");
    if (!ins || !cnt || !ref || !dit)
        goto out;

    job_phase(job, "repository", 0, 0);
    for (size_t k = 0; k < ndirs; k++) {
        char *dir = subdir_path(st, dirs[k]), sub[16];
        snprintf(sub, sizeof sub, "%04d", dirs[k]);
        /* beneath the DAOS directory: a subdirectory that is a link is refused, not indexed */
        DIR *d = fsb_opendir(st->daos, sub);
        if (!d) {
            dv_preferr("resync");
            free(dir);
            goto out;
        }
        int64_t files = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || !store_nlo_name_valid(e->d_name))
                continue;
            files++;
            sqlite3_bind_text(ins, 1, e->d_name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(ins, 2, dirs[k]);
            sqlite3_bind_int64(ins, 3, (sqlite3_int64)name_size(e->d_name));
            if (sqlite3_step(ins) != SQLITE_DONE) {
                sq_fail(st->idx, "resync: insert object");
                closedir(d);
                free(dir);
                goto out;
            }
            c.objects++; /* duplicates are taken off below */
            c.bytes += name_size(e->d_name);
            sqlite3_reset(ins);
            job_advance(job, 1, 0, NULL);
            if ((c.objects & 0x3ff) == 0 && job_cancelled(job)) {
                closedir(d);
                free(dir);
                dv_seterr("resync cancelled (index unchanged)");
                goto out;
            }
        }
        closedir(d);
        free(dir);
        sqlite3_bind_int(cnt, 1, dirs[k]);
        sqlite3_bind_int64(cnt, 2, files);
        if (sqlite3_step(cnt) != SQLITE_DONE) {
            sq_fail(st->idx, "resync: subdirectory count");
            goto out;
        }
        sqlite3_reset(cnt);
    }
    /* Name order; the lowest subdirectory of a duplicate wins (the order they were listed). */
    if (sq_exec(st->idx,
                "INSERT OR IGNORE INTO doi(name, subdir, size, refcount)"
                " SELECT name, subdir, size, 0 FROM temp.scan ORDER BY name, subdir",
                "resync: objects") != 0)
        goto out;
    if ((uint64_t)sqlite3_changes64(st->idx) != c.objects) {
        sqlite3_stmt *dq = sq_prep(st->idx,
                                   "SELECT s.name, s.subdir FROM temp.scan s JOIN doi d"
                                   " ON d.name = s.name WHERE s.subdir <> d.subdir",
                                   "resync: duplicates");
        if (!dq)
            goto out;
        while (sqlite3_step(dq) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(dq, 0);
            int sub = sqlite3_column_int(dq, 1);
            c.duplicates++;
            c.objects--;
            c.bytes -= name_size(name);
            job_log(job, DV_WARN, "NLO %s is in two subdirectories; %04d/%s ignored", name, sub,
                    name);
        }
        sqlite3_finalize(dq);
    }
    if (sq_exec(st->idx, "DROP TABLE temp.scan", "resync") != 0)
        goto out;
    job_flush(job);

    job_phase(job, "databases", ndbs, 0);
    for (size_t i = 0; i < ndbs; i++) {
        if (job_cancelled(job)) {
            dv_seterr("resync cancelled (index unchanged)");
            goto out;
        }
        char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
        sqlite3 *h;
        if (sq_open(abs, SQLITE_OPEN_READONLY, &h) != 0) {
            dv_preferr("resync");
            free(abs);
            goto out;
        }
        free(abs);
        char rep[64] = "", iid[64] = "";
        int64_t nrefs = 0;
        int qrc = 0;
        /* One read transaction per database: a consistent view of it. */
        sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
        if (db_has_table(h, "dbinfo")) {
            db_read_info(h, "replica_id", rep, sizeof rep);
            db_read_info(h, "dbiid", iid, sizeof iid);
        }
        if (db_has_table(h, "attachments")) {
            sqlite3_stmt *q = NULL;
            if (sqlite3_prepare_v2(h,
                                   "SELECT nlo, count(*) FROM attachments WHERE nlo IS NOT NULL"
                                   " GROUP BY nlo",
                                   -1, &q, NULL) != SQLITE_OK) {
                qrc = sq_fail(h, dbs[i]);
            } else {
                while ((qrc = sqlite3_step(q)) == SQLITE_ROW) {
                    const char *name = (const char *)sqlite3_column_text(q, 0);
                    int64_t k = sqlite3_column_int64(q, 1);
                    nrefs += k;
                    c.references += (uint64_t)k;
                    sqlite3_bind_int64(ref, 1, (sqlite3_int64)i);
                    sqlite3_bind_text(ref, 2, name, -1, SQLITE_TRANSIENT);
                    sqlite3_bind_int64(ref, 3, k);
                    if (sqlite3_step(ref) != SQLITE_DONE) {
                        qrc = sq_fail(st->idx, "resync: count references");
                        break;
                    }
                    sqlite3_reset(ref);
                }
                qrc = qrc == SQLITE_DONE ? 0 : (qrc == -1 ? -1 : sq_fail(h, dbs[i]));
            }
            sqlite3_finalize(q);
        }
        sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(h);
        if (qrc != 0) {
            dv_preferr("resync %s", dbs[i]);
            goto out;
        }
        sqlite3_bind_text(dit, 1, dbs[i], -1, SQLITE_STATIC);
        if (rep[0])
            sqlite3_bind_text(dit, 2, rep, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(dit, 2);
        if (iid[0])
            sqlite3_bind_text(dit, 3, iid, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(dit, 3);
        sqlite3_bind_int64(dit, 4, nrefs);
        if (sqlite3_step(dit) != SQLITE_DONE) {
            sq_fail(st->idx, "resync: DIT");
            goto out;
        }
        sqlite3_reset(dit);
        sqlite3_clear_bindings(dit);
        c.databases++;
        job_advance(job, 1, 0, dbs[i]);
    }
    /* The reference counts, in name order; then the names no object answers (a query, not a
     * DELETE: SQLite keeps the rowids a DELETE will remove in memory, 24 bytes each). */
    if (sq_exec(st->idx,
                "CREATE TEMP TABLE agg AS SELECT name, sum(k) AS n FROM temp.refs GROUP BY name"
                " ORDER BY name;"
                "UPDATE doi SET refcount = a.n FROM temp.agg a WHERE doi.name = a.name;",
                "resync: count references") != 0)
        goto out;
    {
        sqlite3_stmt *mq = sq_prep(st->idx,
                                   "SELECT r.db, r.name FROM temp.refs r"
                                   " WHERE r.name IN (SELECT a.name FROM temp.agg a"
                                   " WHERE NOT EXISTS (SELECT 1 FROM doi"
                                   " WHERE doi.name = a.name))"
                                   " ORDER BY r.db, r.name",
                                   "resync: missing NLOs");
        if (!mq)
            goto out;
        while (sqlite3_step(mq) == SQLITE_ROW) {
            int64_t di = sqlite3_column_int64(mq, 0);
            if (c.missing++ < 20 && di >= 0 && (size_t)di < ndbs)
                job_log(job, DV_WARN, "%s references NLO %s, which is not in the repository",
                        dbs[di], (const char *)sqlite3_column_text(mq, 1));
        }
        sqlite3_finalize(mq);
    }
    if (sq_exec(st->idx, "DROP TABLE temp.agg; DROP TABLE temp.refs", "resync") != 0)
        goto out;
    if (c.missing > 20)
        job_log(job, DV_WARN, "%llu references to NLOs not in the repository in all",
                (unsigned long long)c.missing);
    {
        sqlite3_stmt *z =
            sq_prep(st->idx,
                    "UPDATE doi SET zero_since = coalesce((SELECT zero_since FROM"
                    " temp.old_zero o WHERE o.name = doi.name), ?1) WHERE refcount = 0",
                    "resync");
        if (!z)
            goto out;
        sqlite3_bind_int64(z, 1, now);
        int zr = sqlite3_step(z);
        sqlite3_finalize(z);
        if (zr != SQLITE_DONE) {
            sq_fail(st->idx, "resync: zero-ref times");
            goto out;
        }
    }
    if (sq_exec(st->idx, "DROP TABLE temp.old_zero", "resync") != 0 ||
        idx_set_state(st, false, "") != 0)
        goto out;
    sqlite3_finalize(ins);
    sqlite3_finalize(cnt);
    sqlite3_finalize(ref);
    sqlite3_finalize(dit);
    ins = cnt = ref = dit = NULL;
    if (idx_commit(st) != 0)
        goto out;
    /* The whole index was rewritten into the WAL: fold it back now (best effort), or every
     * lookup after a resync pays the WAL's page search until the next checkpoint. */
    sqlite3_wal_checkpoint_v2(st->idx, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    rc = cfg_write(st);
    job_flush(job);
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(cnt);
    sqlite3_finalize(ref);
    sqlite3_finalize(dit);
    if (rc != 0)
        idx_rollback(st);
    free(dirs);
    dbglob_free(dbs);
    if (counts)
        *counts = c;
    return rc;
}

/* ---- prune -------------------------------------------------------------------------------------
 */

struct cand {
    char name[STORE_NLO_NAME_LEN + 1];
    int subdir;
};

int store_prune(struct dv_store *st, long days, store_may_delete_fn may_delete, void *ud,
                struct store_prune_counts *counts, struct dv_job *job)
{
    if (!has_daos(st))
        return no_daos();
    struct store_prune_counts c = {0};
    if (counts)
        *counts = c;
    if (store_check(st) != 0)
        return -1;
    if (store_needs_resync(st)) {
        struct store_status ss;
        if (store_status(st, &ss) == 0) {
            dv_seterr(
                "DAOS index is NEEDS_RESYNC (%s): prune refused, run dvault resync daos first",
                ss.reason);
            store_status_done(&ss);
        }
        return -1;
    }
    if (days < 0)
        days = st->cfg->server.deferred_deletion_days;
    int64_t cutoff = dv_now() - (int64_t)days * 86400;
    c.not_due = (uint64_t)q_int(
        st->idx, "SELECT count(*) FROM doi WHERE refcount = 0 AND zero_since > ?1", cutoff);
    /* Candidates, read without holding a write lock; each is checked again before deletion. */
    struct cand *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = sq_prep(st->idx,
                              "SELECT name, subdir FROM doi WHERE refcount = 0 AND"
                              " zero_since <= ?1 ORDER BY name",
                              "DAOS index");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, cutoff);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (may_delete && !may_delete(ud, name)) {
            c.waiting_backup++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = dv_realloc(v, cap * sizeof *v);
        }
        snprintf(v[n].name, sizeof v[n].name, "%s", name);
        v[n++].subdir = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    job_phase(job, "prune", n, 0);
    sqlite3_stmt *chk = sq_prep(st->idx,
                                "SELECT 1 FROM doi WHERE name = ?1 AND refcount = 0 AND"
                                " zero_since <= ?2",
                                "DAOS index");
    sqlite3_stmt *del = sq_prep(st->idx, "DELETE FROM doi WHERE name = ?1", "DAOS index");
    int rc = chk && del ? 0 : -1;
    /* Batches: the unlink happens under the index write lock, so that a writer cannot take a
     * new reference to an object between the check and the deletion. */
    for (size_t i = 0; rc == 0 && i < n;) {
        if (job_cancelled(job)) {
            dv_seterr("prune cancelled after %llu objects", (unsigned long long)c.deleted);
            rc = -1;
            break;
        }
        if (idx_begin(st) != 0) {
            rc = -1;
            break;
        }
        size_t end = i + PRUNE_BATCH < n ? i + PRUNE_BATCH : n;
        for (; rc == 0 && i < end; i++) {
            sqlite3_bind_text(chk, 1, v[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(chk, 2, cutoff);
            bool still = sqlite3_step(chk) == SQLITE_ROW;
            sqlite3_reset(chk);
            if (!still)
                continue;
            /* through its subdirectory opened beneath the DAOS directory without links: a
             * subdirectory replaced by a link is refused, nothing behind it deleted */
            char rel[128];
            snprintf(rel, sizeof rel, "%04d/%s", v[i].subdir, v[i].name);
            if (fsb_unlink(st->daos, rel, true) != 0) {
                dv_preferr("prune: delete");
                rc = -1;
                break;
            }
            sqlite3_bind_text(del, 1, v[i].name, -1, SQLITE_STATIC);
            rc = sqlite3_step(del) == SQLITE_DONE ? 0 : sq_fail(st->idx, "prune");
            sqlite3_reset(del);
            if (rc == 0)
                rc = idx_free_slot(st, v[i].subdir);
            if (rc == 0) {
                c.deleted++;
                c.bytes += name_size(v[i].name);
                job_advance(job, 1, name_size(v[i].name), v[i].name);
            }
        }
        if (rc != 0 || idx_commit(st) != 0) {
            idx_rollback(st); /* files already unlinked in this batch: resync will notice */
            rc = -1;
        }
    }
    sqlite3_finalize(chk);
    sqlite3_finalize(del);
    free(v);
    if (c.deleted && cfg_write(st) != 0)
        rc = -1;
    job_flush(job);
    if (counts)
        *counts = c;
    return rc;
}

/* ---- listnlo -----------------------------------------------------------------------------------
 */

/*
 * Whether NLO name has a file in the repository: one stat in the subdirectory the DAOS index
 * names. With sweep (the index is NEEDS_RESYNC: it may be stale), when the index has no row or
 * the file is not there, every subdirectory too (a stat each: *dirs is listed on first need,
 * caller frees). Memory stays flat in the repository's size (reading every name of the
 * repository cost 40 bytes an NLO, and a stat per subdirectory and missing name grows with
 * the subdirectories). Returns 1, 0, or -1.
 */
static int nlo_present(struct dv_store *st, sqlite3_stmt *q, const char *name, int **dirs,
                       size_t *ndirs, bool *listed, bool sweep)
{
    int first = -1;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        first = sqlite3_column_int(q, 0);
    sqlite3_reset(q);
    struct stat sb;
    if (first >= 0) {
        char *dir = subdir_path(st, first);
        char *p = dv_path_join(dir, name);
        int ok = stat(p, &sb) == 0;
        free(p);
        free(dir);
        if (ok)
            return 1;
    }
    if (!sweep)
        return 0;
    if (!*listed) {
        if (list_subdirs(st, dirs, ndirs) != 0)
            return -1;
        *listed = true;
    }
    for (size_t k = 0; k < *ndirs; k++) {
        if ((*dirs)[k] == first)
            continue;
        char *dir = subdir_path(st, (*dirs)[k]);
        char *p = dv_path_join(dir, name);
        int ok = stat(p, &sb) == 0;
        free(p);
        free(dir);
        if (ok)
            return 1;
    }
    return 0;
}

int store_listnlo(struct dv_store *st, const char *db_path, bool missing_only, store_name_fn fn,
                  void *ud, uint64_t *nout)
{
    if (nout)
        *nout = 0;
    if (!has_daos(st))
        return no_daos();
    char *abs =
        db_path[0] == '/' ? dv_strdup(db_path) : dv_path_join(st->cfg->server.data_dir, db_path);
    if (access(abs, R_OK) != 0) {
        dv_syserr("database %s", abs);
        free(abs);
        return -1;
    }
    sqlite3 *h;
    if (sq_open(abs, SQLITE_OPEN_READONLY, &h) != 0) {
        free(abs);
        return -1;
    }
    int rc = 0;
    if (!db_has_table(h, "attachments")) {
        /* Also tells an unreadable file apart from a database without attachments. */
        if (sqlite3_exec(h, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
            rc = sq_fail(h, abs);
        sqlite3_close(h);
        free(abs);
        return rc;
    }
    int *dirs = NULL;
    size_t ndirs = 0;
    bool listed = false, sweep = missing_only && store_needs_resync(st);
    sqlite3_stmt *q = NULL;
    if (missing_only &&
        !(q = sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index"))) {
        sqlite3_close(h);
        free(abs);
        return -1;
    }
    /* One read transaction for every lookup: not a lock and a WAL check per name. */
    bool in_tx = missing_only && sqlite3_get_autocommit(st->idx) &&
                 sqlite3_exec(st->idx, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_stmt *s = sq_prep(h,
                              "SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL"
                              " ORDER BY nlo",
                              abs);
    uint64_t count = 0;
    if (!s)
        rc = -1;
    int r = SQLITE_DONE;
    while (s && (r = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (missing_only && store_nlo_name_valid(name)) {
            int pr = nlo_present(st, q, name, &dirs, &ndirs, &listed, sweep);
            if (pr < 0) {
                rc = -1;
                break;
            }
            if (pr)
                continue;
        }
        count++;
        if ((rc = fn(ud, name)) != 0)
            break;
    }
    if (s && rc == 0 && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = sq_fail(h, abs);
    sqlite3_finalize(s);
    sqlite3_finalize(q);
    if (in_tx)
        sqlite3_exec(st->idx, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    free(dirs);
    free(abs);
    if (nout)
        *nout = count;
    return rc;
}

static void obj_read(sqlite3_stmt *s, struct store_object *o)
{
    memset(o, 0, sizeof *o);
    const unsigned char *n = sqlite3_column_text(s, 0);
    snprintf(o->name, sizeof o->name, "%s", n ? (const char *)n : "");
    o->subdir = sqlite3_column_int(s, 1);
    o->size = sqlite3_column_int64(s, 2);
    o->refcount = sqlite3_column_int64(s, 3);
    o->zero_since = sqlite3_column_int64(s, 4);
}

int store_objects_page(struct dv_store *st, const char *after, bool backward, bool zero_ref_only,
                       struct store_object *out, size_t max, size_t *n)
{
    if (!has_daos(st))
        return no_daos();
    /* Four fixed statements (direction x filter), each a range scan of the primary key. */
    static const char *const sql[2][2] = {
        {"SELECT name, subdir, size, refcount, zero_since FROM doi WHERE name > ?1 "
         "ORDER BY name LIMIT ?2",
         "SELECT name, subdir, size, refcount, zero_since FROM doi WHERE name > ?1 "
         "AND refcount = 0 ORDER BY name LIMIT ?2"},
        {"SELECT name, subdir, size, refcount, zero_since FROM doi WHERE (?1 = '' OR name < ?1) "
         "ORDER BY name DESC LIMIT ?2",
         "SELECT name, subdir, size, refcount, zero_since FROM doi WHERE (?1 = '' OR name < ?1) "
         "AND refcount = 0 ORDER BY name DESC LIMIT ?2"},
    };
    *n = 0;
    sqlite3_stmt *s = sq_prep(st->idx, sql[backward][zero_ref_only], "DAOS index: objects");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    int r;
    size_t k = 0;
    while (k < max && (r = sqlite3_step(s)) == SQLITE_ROW)
        obj_read(s, &out[k++]);
    int rc = 0;
    if (k < max && r != SQLITE_DONE)
        rc = sq_fail(st->idx, "DAOS index: objects");
    sqlite3_finalize(s);
    *n = k;
    return rc;
}

int store_object_get(struct dv_store *st, const char *name, struct store_object *out)
{
    if (!has_daos(st))
        return no_daos();
    sqlite3_stmt *s =
        sq_prep(st->idx, "SELECT name, subdir, size, refcount, zero_since FROM doi WHERE name = ?1",
                "DAOS index: object");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(s), rc;
    if (r == SQLITE_ROW) {
        if (out)
            obj_read(s, out);
        rc = 1;
    } else {
        rc = r == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: object");
    }
    sqlite3_finalize(s);
    return rc;
}

int store_objects(struct dv_store *st, store_object_fn fn, void *ud)
{
    if (!has_daos(st))
        return no_daos();
    sqlite3_stmt *s = sq_prep(st->idx, "SELECT name, subdir, refcount FROM doi ORDER BY name",
                              "DAOS index: objects");
    if (!s)
        return -1;
    int rc = 0, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = fn(ud, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
                     sqlite3_column_int64(s, 2))) != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = sq_fail(st->idx, "DAOS index: objects");
    sqlite3_finalize(s);
    return rc;
}

/* ---- recovery support ------------------------------------------------------------------------ */

struct store_repo {
    struct dv_store *st;
    sqlite3_stmt *q;
    int *dirs;
    size_t ndirs;
    bool listed, sweep;
};

struct store_repo *store_repo_scan(struct dv_store *st)
{
    if (!has_daos(st)) {
        no_daos();
        return NULL;
    }
    struct store_repo *r = dv_calloc(1, sizeof *r);
    r->st = st;
    r->sweep = store_needs_resync(st);
    if (!(r->q = sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index"))) {
        free(r);
        return NULL;
    }
    return r;
}

bool store_repo_has(const struct store_repo *r, const char *name)
{
    if (!r || !store_nlo_name_valid(name))
        return false;
    struct store_repo *w = (struct store_repo *)r; /* the lazily listed subdirectories */
    return nlo_present(w->st, w->q, name, &w->dirs, &w->ndirs, &w->listed, w->sweep) == 1;
}

void store_repo_free(struct store_repo *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->q);
    free(r->dirs);
    free(r);
}

static int subdir_of_path(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash || slash - p < 5)
        return 0;
    char d[5];
    memcpy(d, slash - 4, 4);
    d[4] = '\0';
    return subdir_num(d);
}

/* refs[i] = attachment rows referencing names[i] across the glob databases (one pass). */
static int count_refs_many(struct dv_store *st, const char *const *names, size_t n, int64_t *refs)
{
    char **dbs;
    size_t ndbs;
    if (dbglob_list(st->cfg, &dbs, &ndbs) != 0)
        return -1;
    memset(refs, 0, n * sizeof *refs);
    for (size_t i = 0; i < ndbs; i++) {
        char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
        sqlite3 *h;
        if (sq_open(abs, SQLITE_OPEN_READONLY, &h) == 0) {
            sqlite3_stmt *s = NULL;
            if (db_has_table(h, "attachments") &&
                sqlite3_prepare_v2(h, "SELECT count(*) FROM attachments WHERE nlo = ?1", -1, &s,
                                   NULL) == SQLITE_OK) {
                sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
                for (size_t k = 0; k < n; k++) {
                    sqlite3_bind_text(s, 1, names[k], -1, SQLITE_STATIC);
                    if (sqlite3_step(s) == SQLITE_ROW)
                        refs[k] += sqlite3_column_int64(s, 0);
                    sqlite3_reset(s);
                }
                sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
            }
            sqlite3_finalize(s);
            sqlite3_close(h);
        }
        free(abs);
    }
    dbglob_free(dbs);
    return 0;
}

static void inst_fail(struct store_install *e, const char *msg)
{
    e->status = STORE_INSTALL_FAILED;
    free(e->err);
    e->err = dv_strdup(msg);
}

void store_install_done(struct store_install *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].err);
        v[i].err = NULL;
    }
}

int store_nlo_install_many(struct dv_store *st, struct store_install *v, size_t n,
                           struct dv_job *job)
{
    for (size_t i = 0; i < n; i++) {
        v[i].status = STORE_INSTALL_FAILED;
        v[i].subdir = 0;
        free(v[i].err);
        v[i].err = NULL; /* "not processed" */
    }
    if (!has_daos(st))
        return no_daos();
    if (n == 0)
        return 0;
    struct store_repo *repo = store_repo_scan(st);
    if (!repo)
        return -1;
    size_t *todo = dv_calloc(n, sizeof *todo);
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        if (!store_nlo_name_valid(v[i].name)) {
            char m[160];
            snprintf(m, sizeof m, "'%.100s' is not an NLO name", v[i].name);
            inst_fail(&v[i], m);
        } else if (store_repo_has(repo, v[i].name)) {
            v[i].status = STORE_INSTALL_PRESENT;
            free(v[i].err);
            v[i].err = NULL;
            char *p = store_nlo_path(st, v[i].name);
            v[i].subdir = p ? subdir_of_path(p) : 0;
            free(p);
        } else {
            todo[nt++] = i;
        }
    }
    store_repo_free(repo);
    int rc = 0;
    /* 1. slots for all of them in one index transaction */
    if (nt && idx_begin(st) != 0)
        rc = -1;
    for (size_t k = 0; rc == 0 && k < nt; k++)
        rc = idx_take_slot(st, &v[todo[k]].subdir);
    if (nt && rc == 0 && idx_commit(st) != 0)
        rc = -1;
    if (rc != 0) {
        idx_rollback(st);
        for (size_t k = 0; k < nt; k++)
            v[todo[k]].subdir = 0;
        free(todo);
        return -1;
    }
    /* 2. copy, outside any transaction; read back and verify */
    job_phase(job, "install NLOs", nt, 0);
    size_t nok = 0;
    for (size_t k = 0; k < nt; k++) {
        struct store_install *e = &v[todo[k]];
        if (job_cancelled(job)) {
            inst_fail(e, "cancelled");
            continue;
        }
        /* beneath the caller's root (a pool object: no link), or a path opened O_NONBLOCK;
         * a regular file either way (no FIFO is waited on) */
        int fd = e->src_root ? fsb_openat(e->src_root, e->src_path, O_RDONLY, 0)
                             : dv_open_regular(e->src_path, O_RDONLY);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            if (fd < 0)
                dv_preferr("NLO source");
            else
                dv_syserr("NLO source %s", e->src_path);
            inst_fail(e, dv_err());
            if (fd >= 0)
                close(fd);
            continue;
        }
        int r = nlo_put_bytes(st, e->subdir, e->name, NULL, (size_t)sb.st_size, fd);
        close(fd);
        if (r == 0) {
            char *final = nlo_file(st, e->subdir, e->name);
            unsigned char *plain = NULL;
            size_t plen;
            if (nlo_read_path(st, e->name, final, &plain, &plen) != 0) {
                dv_preferr("the copy does not read back");
                char rel[128], sub[16];
                snprintf(rel, sizeof rel, "%04d/%s", e->subdir, e->name);
                snprintf(sub, sizeof sub, "%04d", e->subdir);
                char keep[DV_ERR_MAX];
                snprintf(keep, sizeof keep, "%s", dv_err());
                if (fsb_unlink(st->daos, rel, true) == 0)
                    fsb_fsync_dir(st->daos, sub);
                dv_seterr("%s", keep);
                r = -1;
            }
            free(plain);
            free(final);
        }
        if (r != 0) {
            inst_fail(e, dv_err());
            continue;
        }
        e->status = STORE_INSTALL_NEW;
        free(e->err);
        e->err = NULL;
        todo[nok++] = todo[k];
        job_advance(job, 1, (uint64_t)sb.st_size, e->name);
    }
    /* 3. one refcount pass for the installed ones, then index them (and free failed slots) */
    const char **names = dv_calloc(nok ? nok : 1, sizeof *names);
    int64_t *refs = dv_calloc(nok ? nok : 1, sizeof *refs);
    for (size_t k = 0; k < nok; k++)
        names[k] = v[todo[k]].name;
    if (nok && count_refs_many(st, names, nok, refs) != 0)
        rc = -1;
    if (rc == 0 && idx_begin(st) != 0)
        rc = -1;
    sqlite3_stmt *s = rc == 0 ? sq_prep(st->idx,
                                        "INSERT OR REPLACE INTO doi(name, subdir, size,"
                                        " refcount, zero_since) VALUES (?1, ?2, ?3, ?4, ?5)",
                                        "DAOS index: install")
                              : NULL;
    if (rc == 0 && !s)
        rc = -1;
    int64_t now = dv_now();
    for (size_t k = 0; rc == 0 && k < nok; k++) {
        const struct store_install *e = &v[todo[k]];
        sqlite3_bind_text(s, 1, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, e->subdir);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)name_size(e->name));
        sqlite3_bind_int64(s, 4, refs[k]);
        if (refs[k] == 0)
            sqlite3_bind_int64(s, 5, now);
        else
            sqlite3_bind_null(s, 5);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(st->idx, "DAOS index: install");
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    const char *first_err = NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].status != STORE_INSTALL_FAILED)
            continue;
        if (!first_err)
            first_err = v[i].err ? v[i].err : "not processed";
        if (rc == 0 && v[i].subdir > 0)
            rc = idx_free_slot(st, v[i].subdir);
    }
    if (rc == 0 && idx_commit(st) != 0)
        rc = -1;
    if (rc != 0)
        idx_rollback(st);
    free(names);
    free(refs);
    free(todo);
    if (rc == 0 && nt && cfg_write(st) != 0)
        rc = -1;
    if (rc == 0 && first_err) {
        dv_seterr("%s", first_err);
        rc = -1;
    }
    return rc;
}

/* ---- the stored bytes of live NLOs: recover's repair, listnlo damaged ---------------------- */

struct store_live {
    struct dv_store *st;
    struct fsb *daos; /* the DAOS directory: nothing beneath it is followed */
    sqlite3_stmt *q;
    int *dirs;
    size_t ndirs;
    bool listed, sweep;
};

struct store_live *store_live_open(struct dv_store *st)
{
    if (!has_daos(st)) {
        no_daos();
        return NULL;
    }
    struct store_live *l = dv_calloc(1, sizeof *l);
    l->st = st;
    l->sweep = store_needs_resync(st);
    if (!(l->daos = fsb_open(st->cfg->server.daos_dir)) ||
        !(l->q = sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index"))) {
        store_live_close(l);
        return NULL;
    }
    return l;
}

void store_live_close(struct store_live *l)
{
    if (!l)
        return;
    fsb_close(l->daos);
    sqlite3_finalize(l->q);
    free(l->dirs);
    free(l);
}

static const char *mode_what(mode_t m)
{
    return S_ISREG(m) ? "a regular file" : fsb_kind(m);
}

/* lstat of subdir/name beneath the DAOS directory: 1 found (*sb), 0 not there, -1 error. */
static int live_lstat(struct store_live *l, int subdir, const char *name, struct stat *sb)
{
    char rel[128];
    snprintf(rel, sizeof rel, "%04d/%s", subdir, name);
    if (fsb_lstat(l->daos, rel, sb) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

int store_live_nlo(struct store_live *l, const char *name, bool hash, struct store_live_nlo *out)
{
    memset(out, 0, sizeof out[0]);
    if (!store_nlo_name_valid(name)) {
        dv_seterr("'%.100s' is not an NLO name", name);
        return -1;
    }
    /* where: the subdirectory the index names; every one when the index is NEEDS_RESYNC (as
       store_repo_has, but a link is found as itself, never followed) */
    int first = -1, found = 0;
    struct stat sb;
    sqlite3_bind_text(l->q, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(l->q) == SQLITE_ROW)
        first = sqlite3_column_int(l->q, 0);
    sqlite3_reset(l->q);
    if (first > 0 && (found = live_lstat(l, first, name, &sb)) < 0)
        return -1;
    if (found)
        out->subdir = first;
    if (!found && l->sweep) {
        if (!l->listed) {
            if (list_subdirs(l->st, &l->dirs, &l->ndirs) != 0)
                return -1;
            l->listed = true;
        }
        for (size_t k = 0; !found && k < l->ndirs; k++) {
            if (l->dirs[k] == first)
                continue;
            if ((found = live_lstat(l, l->dirs[k], name, &sb)) < 0)
                return -1;
            if (found)
                out->subdir = l->dirs[k];
        }
    }
    if (!found) {
        out->kind = STORE_LIVE_MISSING;
        return 0;
    }
    if (!S_ISREG(sb.st_mode)) {
        out->kind = S_ISLNK(sb.st_mode) ? STORE_LIVE_LINK : STORE_LIVE_OTHER;
        snprintf(out->what, sizeof out->what, "%s", mode_what(sb.st_mode));
        return 0;
    }
    out->kind = STORE_LIVE_FILE;
    out->size = (int64_t)sb.st_size;
    if (!hash)
        return 0;
    char rel[128];
    snprintf(rel, sizeof rel, "%04d/%s", out->subdir, name);
    int fd = fsb_openat(l->daos, rel, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    char *abs = dv_asprintf("%s/%s", fsb_path(l->daos), rel);
    int rc = dv_sha256_fd_hex(fd, abs, out->sha256);
    free(abs);
    close(fd);
    return rc;
}

int store_live_replace(struct store_live *l, const char *name, int subdir, int src_fd,
                       const char *want_sha256)
{
    char sub[8], rel[128], tmp[128];
    snprintf(sub, sizeof sub, "%04d", subdir);
    snprintf(rel, sizeof rel, "%s/%s", sub, name);
    /* hidden, never ending in .nlo: the server and the NLO pass skip it */
    snprintf(tmp, sizeof tmp, "%s/.%.16s.%ld.%u.repair.tmp", sub, name, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));
    char *tmp_abs = dv_asprintf("%s/%s", fsb_path(l->daos), tmp);
    unsigned char *b = NULL, *plain = NULL;
    size_t plen;
    int rc = -1;
    struct stat sb;
    int fd = -1;
    if (fstat(src_fd, &sb) != 0) {
        dv_syserr("the pool copy of %s", name);
        goto out;
    }
    if ((fd = fsb_openat(l->daos, tmp, O_RDWR | O_CREAT | O_EXCL, 0640)) < 0)
        goto out;
    int64_t n = dv_copy_range(src_fd, 0, fd, 0, (uint64_t)sb.st_size);
    if (n < 0 || n != (int64_t)sb.st_size) {
        if (n >= 0)
            dv_seterr("copy into %s: the pool copy is shorter than expected", tmp_abs);
        else
            dv_syserr("copy into %s", tmp_abs);
        goto fail;
    }
    if (fsync(fd) != 0) {
        dv_syserr("fsync %s", tmp_abs);
        goto fail;
    }
    /* exactly the bytes the backup recorded, and a readable NLO of this name (decrypted and
       authenticated, content matches the name): checked on the copy that will be renamed */
    char sha[65];
    if (dv_sha256_fd_hex(fd, tmp_abs, sha) != 0)
        goto fail;
    if (strcmp(sha, want_sha256) != 0) {
        dv_seterr("%s: SHA-256 %s, the catalog recorded %s", tmp_abs, sha, want_sha256);
        goto fail;
    }
    b = dv_malloc((size_t)sb.st_size + 1);
    if (dv_pread_full(fd, b, (size_t)sb.st_size, 0) != (ssize_t)sb.st_size) {
        dv_syserr("read back %s", tmp_abs);
        goto fail;
    }
    if (nlo_decode(l->st, name, tmp_abs, b, (size_t)sb.st_size, &plain, &plen) != 0) {
        dv_preferr("the pool copy does not read back");
        goto fail;
    }
    close(fd);
    fd = -1;
    /* the damaged name must still be there: a name the server deleted meanwhile is not
       brought back */
    struct stat cur;
    if (live_lstat(l, subdir, name, &cur) != 1) {
        dv_seterr("%s/%s vanished while it was repaired: left alone", fsb_path(l->daos), rel);
        goto fail;
    }
    dv_crashpoint("recover.repair.before_rename");
    /* rename over the damaged file (a link or special file is replaced as itself) */
    if (fsb_rename(l->daos, tmp, rel, false) != 0 || fsb_fsync_dir(l->daos, sub) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    fd = -1;
    fsb_unlink(l->daos, tmp, true);
out:
    if (fd >= 0)
        close(fd);
    free(plain);
    free(b);
    free(tmp_abs);
    return rc;
}

static char *db_abs(const struct dv_store *st, const char *db_path)
{
    return db_path[0] == '/' ? dv_strdup(db_path) : dv_path_join(st->cfg->server.data_dir, db_path);
}

/* Open a database read-only for listing; 1 = has notes/attachments tables, 0 = not a
 * document database (h closed), -1 error. */
static int doc_db_open(struct dv_store *st, const char *db_path, sqlite3 **h, char **abs)
{
    *abs = db_abs(st, db_path);
    if (access(*abs, R_OK) != 0) {
        dv_syserr("database %s", *abs);
        free(*abs);
        *abs = NULL;
        return -1;
    }
    if (sq_open(*abs, SQLITE_OPEN_READONLY, h) != 0) {
        free(*abs);
        *abs = NULL;
        return -1;
    }
    if (!db_has_table(*h, "notes") || !db_has_table(*h, "attachments")) {
        int rc = 0;
        if (sqlite3_exec(*h, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
            rc = sq_fail(*h, *abs);
        sqlite3_close(*h);
        *h = NULL;
        free(*abs);
        *abs = NULL;
        return rc;
    }
    return 1;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

int store_docs(struct dv_store *st, const char *db_path, const struct store_doc_filter *f,
               store_doc_fn fn, void *ud, uint64_t *nout)
{
    if (nout)
        *nout = 0;
    sqlite3 *h;
    char *abs;
    int o = doc_db_open(st, db_path, &h, &abs);
    if (o <= 0)
        return o;
    struct store_doc_filter none = {0};
    if (!f)
        f = &none;
    char *like = NULL;
    if (f->search && f->search[0]) {
        /* LIKE is case-insensitive for ASCII; escape its wildcards */
        size_t n = strlen(f->search);
        like = dv_malloc(2 * n + 3);
        char *p = like;
        *p++ = '%';
        for (const char *c = f->search; *c; c++) {
            if (*c == '%' || *c == '_' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '%';
        *p = '\0';
    }
    sqlite3_stmt *s = sq_prep(
        h,
        "SELECT n.unid, n.form, n.subject, n.sender, n.created, n.modified, n.deleted,"
        " (SELECT count(*) FROM attachments a WHERE a.note_id = n.note_id),"
        " (SELECT count(*) FROM attachments a WHERE a.note_id = n.note_id AND a.nlo IS NOT NULL)"
        " FROM notes n WHERE (?1 IS NULL OR n.subject LIKE ?1 ESCAPE '\\' OR n.sender LIKE ?1"
        " ESCAPE '\\' OR n.body LIKE ?1 ESCAPE '\\') AND (?2 IS NULL OR n.unid = ?2)"
        " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM attachments a WHERE a.note_id = n.note_id"
        " AND a.nlo = ?3)) ORDER BY n.created, n.unid",
        abs);
    int rc = 0;
    uint64_t count = 0;
    if (!s) {
        rc = -1;
    } else {
        if (like)
            sqlite3_bind_text(s, 1, like, -1, SQLITE_STATIC);
        if (f->unid)
            sqlite3_bind_text(s, 2, f->unid, -1, SQLITE_STATIC);
        if (f->nlo)
            sqlite3_bind_text(s, 3, f->nlo, -1, SQLITE_STATIC);
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            struct store_doc_info d = {.unid = col_text(s, 0),
                                       .form = col_text(s, 1),
                                       .subject = col_text(s, 2),
                                       .sender = col_text(s, 3),
                                       .created = sqlite3_column_int64(s, 4),
                                       .modified = sqlite3_column_int64(s, 5),
                                       .deleted = sqlite3_column_int64(s, 6),
                                       .natt = sqlite3_column_int(s, 7),
                                       .nnlo = sqlite3_column_int(s, 8)};
            count++;
            if ((rc = fn(ud, &d)) != 0)
                break;
        }
        if (rc == 0 && r != SQLITE_DONE)
            rc = sq_fail(h, abs);
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    free(like);
    free(abs);
    if (nout)
        *nout = count;
    return rc;
}

/*
 * Open the document database db_path read-only and find the note_id of unid. 0 with *h, *abs
 * (the caller closes and frees them) and *note; -1 with dv_err() ("no document ...") and
 * nothing left open.
 */
static int doc_open_note(struct dv_store *st, const char *db_path, const char *unid, sqlite3 **h,
                         char **abs, int64_t *note)
{
    int o = doc_db_open(st, db_path, h, abs);
    if (o < 0)
        return -1;
    if (o == 0) {
        dv_seterr("%s: no document %s (not a document database)", db_path, unid);
        return -1;
    }
    int rc = -1;
    sqlite3_stmt *s = sq_prep(*h, "SELECT note_id FROM notes WHERE unid = ?1", *abs);
    if (s) {
        sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *note = sqlite3_column_int64(s, 0);
            rc = 0;
        } else {
            dv_seterr("%s: no document %s", *abs, unid);
        }
        sqlite3_finalize(s);
    }
    if (rc != 0) {
        sqlite3_close(*h);
        free(*abs);
    }
    return rc;
}

int store_doc_nlos(struct dv_store *st, const char *db_path, const char *unid, store_name_fn fn,
                   void *ud)
{
    sqlite3 *h;
    char *abs;
    int64_t note;
    if (doc_open_note(st, db_path, unid, &h, &abs, &note) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = sq_prep(h,
                              "SELECT DISTINCT nlo FROM attachments WHERE note_id = ?1"
                              " AND nlo IS NOT NULL ORDER BY nlo",
                              abs);
    if (s) {
        sqlite3_bind_int64(s, 1, note);
        int r;
        rc = 0;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            if ((rc = fn(ud, col_text(s, 0))) != 0)
                break;
        if (rc == 0 && r != SQLITE_DONE)
            rc = sq_fail(h, abs);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    free(abs);
    return rc;
}

int store_doc_atts(struct dv_store *st, const char *db_path, const char *unid, store_att_fn fn,
                   void *ud)
{
    sqlite3 *h;
    char *abs;
    int64_t note;
    if (doc_open_note(st, db_path, unid, &h, &abs, &note) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = sq_prep(h,
                              "SELECT att_id, name, coalesce(size, length(data), 0), nlo FROM"
                              " attachments WHERE note_id = ?1 ORDER BY att_id",
                              abs);
    if (s) {
        sqlite3_bind_int64(s, 1, note);
        int r;
        rc = 0;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            struct store_att_info a = {.att_id = sqlite3_column_int64(s, 0),
                                       .name = col_text(s, 1),
                                       .size = sqlite3_column_int64(s, 2),
                                       .nlo = col_text(s, 3)};
            if ((rc = fn(ud, &a)) != 0)
                break;
        }
        if (rc == 0 && r != SQLITE_DONE)
            rc = sq_fail(h, abs);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    free(abs);
    return rc;
}

int store_doc_state(struct store_db *db, const char *unid)
{
    sqlite3_stmt *s = sq_prep(db->h, "SELECT deleted FROM notes WHERE unid = ?1", db->path);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
    int r = sqlite3_step(s), rc;
    if (r == SQLITE_ROW)
        rc = sqlite3_column_type(s, 0) == SQLITE_NULL ? 1 : 2;
    else if (r == SQLITE_DONE)
        rc = 0;
    else
        rc = sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    return rc;
}

int store_doc_undelete(struct store_db *db, const char *unid)
{
    sqlite3_stmt *s = sq_prep(db->h,
                              "UPDATE notes SET deleted = NULL, modified = ?1 WHERE"
                              " unid = ?2 AND deleted IS NOT NULL",
                              db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, dv_now());
    sqlite3_bind_text(s, 2, unid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(db->h) == 0) {
        dv_seterr("%s: document %s is not soft-deleted", db->path, unid);
        rc = -1;
    }
    return rc;
}

int store_nlo_referrers(struct dv_store *st, const char *name, store_ref_fn fn, void *ud)
{
    char **dbs;
    size_t ndbs;
    if (dbglob_list(st->cfg, &dbs, &ndbs) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ndbs; i++) {
        char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
        sqlite3 *h;
        int64_t count = 0;
        if (sq_open(abs, SQLITE_OPEN_READONLY, &h) == 0) {
            sqlite3_stmt *s = NULL;
            if (db_has_table(h, "attachments") &&
                sqlite3_prepare_v2(h, "SELECT count(*) FROM attachments WHERE nlo = ?1", -1, &s,
                                   NULL) == SQLITE_OK) {
                sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
                if (sqlite3_step(s) == SQLITE_ROW)
                    count = sqlite3_column_int64(s, 0);
            }
            sqlite3_finalize(s);
            sqlite3_close(h);
        }
        free(abs);
        if (count > 0)
            rc = fn(ud, dbs[i], count);
    }
    dbglob_free(dbs);
    return rc;
}

int store_nlo_info(struct dv_store *st, const char *name, int *subdir, int64_t *refcount)
{
    if (!has_daos(st))
        return no_daos();
    sqlite3_stmt *s =
        sq_prep(st->idx, "SELECT subdir, refcount FROM doi WHERE name = ?1", "DAOS index");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(s), rc = 0;
    if (r == SQLITE_ROW) {
        *subdir = sqlite3_column_int(s, 0);
        *refcount = sqlite3_column_int64(s, 1);
        rc = 1;
    } else if (r != SQLITE_DONE) {
        rc = sq_fail(st->idx, "DAOS index");
    }
    sqlite3_finalize(s);
    return rc;
}
