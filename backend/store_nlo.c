/*
 * store_nlo.c - NLO files: the server key file, NLO names, encryption (AES-256-GCM), reading
 * and writing NLO files beneath the DAOS directory, finding them in the repository.
 */
#include "store_priv.h"

#include "bytes.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fsb.h"
#include "util.h"

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
    char *tmp = dv_asprintf("%s.tmp.%ld.%u", path, (long)getpid(), store_tmp_seq());
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
void store_key_load(struct dv_store *st)
{
    int r = key_read(st->cfg, st->key);
    st->have_key = r == 0;
    st->key_missing = r == 1;
    if (r != 0)
        st->key_err = dv_strdup(dv_err());
}

int store_key_require(struct dv_store *st)
{
    if (!store_has_daos(st) || st->have_key || (st->key_missing && !st->cfg->server.encryption))
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
int store_nlo_encode(const struct dv_store *st, const char *name, const void *plain, size_t size,
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
    dv_wrle64(b + 8, size);
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
int store_nlo_decode(const struct dv_store *st, const char *name, const char *path,
                     const unsigned char *b, size_t len, unsigned char **plain, size_t *plen)
{
    if (len < STORE_NLO_HDR || memcmp(b, "NLO1", 4) != 0) {
        dv_seterr("NLO %s: not an NLO file (bad header)", path);
        return -1;
    }
    bool enc = b[4] & 1;
    uint64_t size = dv_rdle64(b + 8);
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

int store_nlo_read_path(const struct dv_store *st, const char *name, const char *path,
                        unsigned char **plain, size_t *plen)
{
    char *b;
    size_t len;
    /* what the name says it holds, plus the header and tag: nothing bigger is read */
    size_t cap = STORE_NLO_HDR + (size_t)store_name_size(name) + STORE_NLO_TAG;
    const char *dd = st->cfg->server.daos_dir;
    size_t dl = dd ? strlen(dd) : 0;
    int r = st->daos && dl && strncmp(path, dd, dl) == 0 && path[dl] == '/'
                ? fsb_read_capped(st->daos, path + dl + 1, cap, &b, &len) /* no link, no FIFO */
                : dv_read_file_capped(path, cap, &b, &len);
    if (r != 0)
        return -1;
    int rc = store_nlo_decode(st, name, path, (unsigned char *)b, len, plain, plen);
    free(b);
    return rc;
}

/* Write bytes as NLO name into subdir (temp name, fsync, rename, fsync dir). */
int store_nlo_put_bytes(const struct dv_store *st, int subdir, const char *name,
                        const unsigned char *bytes, size_t len, int src_fd)
{
    /* beneath the DAOS directory without links (fsb.h): a subdirectory that is a link is
     * refused, the temporary is new (O_EXCL), the rename never replaces an NLO */
    char sub[16], rel[128];
    snprintf(sub, sizeof sub, "%04d", subdir);
    snprintf(rel, sizeof rel, "%04d/%s", subdir, name);
    if (!st->daos) {
        store_no_daos();
        return -1;
    }
    if (fsb_mkdir(st->daos, sub, 0750, true) != 0)
        return -1;
    char *tmpbase = dv_asprintf(".%.16s.%ld.%u.tmp", name, (long)getpid(), store_tmp_seq());
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

/* ---- the repository ----------------------------------------------------------------------------
 */

/* Subdirectory numbers present in daos_dir, ascending (malloc'd). */
int store_list_subdirs(const struct dv_store *st, int **out, size_t *n)
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
        int k = store_subdir_num(e->d_name);
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
    if (!store_has_daos(st)) {
        store_no_daos();
        return NULL;
    }
    if (!store_nlo_name_valid(name)) {
        dv_seterr("'%.100s' is not an NLO name", name);
        return NULL;
    }
    sqlite3_stmt *s =
        store_sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index");
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        int d = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
        sqlite3_finalize(s);
        if (d > 0) {
            char *p = store_nlo_file(st, d, name);
            if (access(p, F_OK) == 0)
                return p;
            free(p);
        }
    }
    int *dirs;
    size_t n;
    if (store_list_subdirs(st, &dirs, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *p = store_nlo_file(st, dirs[i], name);
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
    int rc = store_nlo_read_path(st, name, p, buf, len);
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

/*
 * Whether NLO name has a file in the repository: one stat in the subdirectory the DAOS index
 * names. With sweep (the index is NEEDS_RESYNC: it may be stale), when the index has no row or
 * the file is not there, every subdirectory too (a stat each: *dirs is listed on first need,
 * caller frees). Memory stays flat in the repository's size (reading every name of the
 * repository cost 40 bytes an NLO, and a stat per subdirectory and missing name grows with
 * the subdirectories). Returns 1, 0, or -1.
 */
int store_nlo_present(struct dv_store *st, sqlite3_stmt *q, const char *name, int **dirs,
                      size_t *ndirs, bool *listed, bool sweep)
{
    int first = -1;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        first = sqlite3_column_int(q, 0);
    sqlite3_reset(q);
    struct stat sb;
    if (first >= 0) {
        char *dir = store_subdir_path(st, first);
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
        if (store_list_subdirs(st, dirs, ndirs) != 0)
            return -1;
        *listed = true;
    }
    for (size_t k = 0; k < *ndirs; k++) {
        if ((*dirs)[k] == first)
            continue;
        char *dir = store_subdir_path(st, (*dirs)[k]);
        char *p = dv_path_join(dir, name);
        int ok = stat(p, &sb) == 0;
        free(p);
        free(dir);
        if (ok)
            return 1;
    }
    return 0;
}
