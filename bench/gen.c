/*
 * gen.c - the benchmark's server generator (build: make build/bench-gen).
 *
 *   bench-gen init DIR NLOS DBS BIGDBS BIGMB
 *       DIR/data: NLOS NLOs in DIR/data/daos/0001.. (max_files_per_subdir = ceil(NLOS/25): 25
 *       subdirectories), DBS databases mail/userNNNN.nsf referencing them (each NLO referenced
 *       about twice, across databases), BIGDBS databases mail/bigNN.nsf of BIGMB MiB each
 *       (documents with bodies, a few references), and DIR/config.yaml (encryption off,
 *       target DIR/run/target, catalog DIR/run/catalog.db). The DAOS index is not built here:
 *       run `dvault -c DIR/config.yaml resync daos` after.
 *   bench-gen add DIR COUNT SEED
 *       COUNT new NLOs (payloads from SEED, distinct from init's) in a new subdirectory after
 *       the highest one (what the server does when every subdirectory is full). Unreferenced.
 *
 * NLO files are the store's format (docs/formats.md "NLO file"), unencrypted: a 32-byte
 * header ("NLO1", flags 0, plaintext size LE, zero IV) then the plaintext; the name is
 * sha256(plaintext) hex + size as 16 hex + ".nlo". Payloads are 1,024..4,096 bytes of
 * pseudo-random data. Files are written directly, without fsync (it is a fixture, not a
 * server); each database is filled in one transaction with prepared statements.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#define HDR 32
#define MAXPAY 4096
#define MINPAY 1024

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "bench-gen: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
    exit(1);
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

struct nlo {
    unsigned char sha[32];
    uint32_t size;
};

static void nlo_name(const struct nlo *o, char out[85])
{
    hex(o->sha, 32, out);
    snprintf(out + 64, 21, "%016llx.nlo", (unsigned long long)o->size);
}

/* Write NLO number i (payload from seed, i) into dir; fill o. */
static void write_nlo(int dfd, const char *dir, uint64_t seed, uint64_t i, unsigned char *buf,
                      struct nlo *o)
{
    uint64_t r = mix(seed * 0x100000000ull + i);
    uint32_t size = MINPAY + (uint32_t)(r % (MAXPAY - MINPAY + 1));
    unsigned char *p = buf + HDR;
    for (uint32_t k = 0; k < size; k += 8) {
        r = mix(r);
        memcpy(p + k, &r, size - k < 8 ? size - k : 8);
    }
    memset(buf, 0, HDR);
    memcpy(buf, "NLO1", 4);
    for (int b = 0; b < 8; b++)
        buf[8 + b] = (unsigned char)((uint64_t)size >> (8 * b));
    unsigned len = 0;
    EVP_Digest(p, size, o->sha, &len, EVP_sha256(), NULL);
    o->size = size;
    char name[85];
    nlo_name(o, name);
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        die("create", dir);
    size_t total = HDR + size;
    if (write(fd, buf, total) != (ssize_t)total)
        die("write", dir);
    close(fd);
}

static void mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
                die("mkdir", tmp);
            *s = '/';
        }
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        die("mkdir", tmp);
}

static void sq(sqlite3 *h, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench-gen: sqlite: %s: %s\n", err, sql);
        exit(1);
    }
}

static sqlite3_stmt *prep(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench-gen: sqlite: %s: %s\n", sqlite3_errmsg(h), sql);
        exit(1);
    }
    return s;
}

static void step(sqlite3 *h, sqlite3_stmt *s)
{
    if (sqlite3_step(s) != SQLITE_DONE) {
        fprintf(stderr, "bench-gen: sqlite: %s\n", sqlite3_errmsg(h));
        exit(1);
    }
    sqlite3_reset(s);
}

static const char SCHEMA[] =
    "CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE notes(note_id INTEGER PRIMARY KEY, unid TEXT UNIQUE NOT NULL, form TEXT,"
    " subject TEXT, sender TEXT, created INTEGER, modified INTEGER, deleted INTEGER, body TEXT);"
    "CREATE TABLE attachments(att_id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL, name TEXT,"
    " size INTEGER, nlo TEXT, data BLOB);"
    "CREATE INDEX attachments_note ON attachments(note_id);"
    "CREATE INDEX attachments_nlo ON attachments(nlo) WHERE nlo IS NOT NULL;"
    "CREATE INDEX notes_deleted ON notes(deleted) WHERE deleted IS NOT NULL;";

/*
 * One database: refs[0..nrefs) NLO indexes, two attachments a document; body_bytes of body per
 * document, documents added until the file reaches min_bytes (0: as many as refs need).
 */
static void make_db(const char *path, const char *title, uint64_t seed, const struct nlo *nlos,
                    const uint32_t *refs, size_t nrefs, size_t body_bytes, uint64_t min_bytes)
{
    unlink(path);
    sqlite3 *h = NULL;
    if (sqlite3_open(path, &h) != SQLITE_OK) {
        fprintf(stderr, "bench-gen: open %s: %s\n", path, sqlite3_errmsg(h));
        exit(1);
    }
    sq(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF");
    sq(h, "BEGIN");
    sq(h, SCHEMA);
    unsigned char rb[16];
    char rid[33], did[33];
    uint64_t a = mix(seed), b = mix(a);
    memcpy(rb, &a, 8);
    memcpy(rb + 8, &b, 8);
    hex(rb, 16, rid);
    a = mix(b);
    b = mix(a);
    memcpy(rb, &a, 8);
    memcpy(rb + 8, &b, 8);
    hex(rb, 16, did);
    sqlite3_stmt *s = prep(h, "INSERT INTO dbinfo(key, value) VALUES ('replica_id', ?1),"
                              " ('dbiid', ?2), ('title', ?3)");
    sqlite3_bind_text(s, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, did, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, title, -1, SQLITE_STATIC);
    step(h, s);
    sqlite3_finalize(s);
    sqlite3_stmt *sn = prep(h, "INSERT INTO notes(unid, form, subject, sender, created, modified,"
                               " body) VALUES (?1, 'Memo', ?2, 'bench@example.com', ?3, ?3, ?4)");
    sqlite3_stmt *sa = prep(h, "INSERT INTO attachments(note_id, name, size, nlo)"
                               " VALUES (?1, ?2, ?3, ?4)");
    char *body = malloc(body_bytes + 1);
    uint64_t r = mix(seed ^ 0x5555);
    size_t ri = 0;
    for (uint64_t doc = 0;; doc++) {
        if (ri >= nrefs) {
            if (min_bytes == 0)
                break;
            if (doc % 256 == 0) {
                sqlite3_stmt *pc = prep(h, "PRAGMA page_count");
                sqlite3_step(pc);
                uint64_t pages = (uint64_t)sqlite3_column_int64(pc, 0);
                sqlite3_finalize(pc);
                if (pages * 4096 >= min_bytes)
                    break;
            }
        }
        char unid[33], subject[64];
        r = mix(r);
        uint64_t r2 = mix(r);
        memcpy(rb, &r, 8);
        memcpy(rb + 8, &r2, 8);
        hex(rb, 16, unid);
        snprintf(subject, sizeof subject, "message %llu", (unsigned long long)doc);
        for (size_t k = 0; k < body_bytes; k++) {
            if (k % 8 == 0)
                r2 = mix(r2);
            body[k] = (char)('a' + (unsigned)((r2 >> (8 * (k % 8))) & 0xff) % 26);
        }
        body[body_bytes] = '\0';
        sqlite3_bind_text(sn, 1, unid, 32, SQLITE_STATIC);
        sqlite3_bind_text(sn, 2, subject, -1, SQLITE_STATIC);
        sqlite3_bind_int64(sn, 3, 1700000000 + (int64_t)doc);
        sqlite3_bind_text(sn, 4, body, (int)body_bytes, SQLITE_STATIC);
        step(h, sn);
        int64_t note = sqlite3_last_insert_rowid(h);
        for (int k = 0; k < 2 && ri < nrefs; k++, ri++) {
            const struct nlo *o = &nlos[refs[ri]];
            char name[85], fname[32];
            nlo_name(o, name);
            snprintf(fname, sizeof fname, "file%u.bin", refs[ri]);
            sqlite3_bind_int64(sa, 1, note);
            sqlite3_bind_text(sa, 2, fname, -1, SQLITE_STATIC);
            sqlite3_bind_int64(sa, 3, o->size);
            sqlite3_bind_text(sa, 4, name, 84, SQLITE_STATIC);
            step(h, sa);
        }
    }
    sqlite3_finalize(sn);
    sqlite3_finalize(sa);
    free(body);
    sq(h, "COMMIT");
    if (sqlite3_close(h) != SQLITE_OK)
        die("close", path);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int init(const char *dir, uint64_t n, unsigned ndbs, unsigned nbig, unsigned bigmb)
{
    uint64_t per = (n + 24) / 25;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/mail", dir);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/data/daos", dir);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/run", dir);
    mkdir_p(path);
    struct nlo *nlos = calloc(n ? n : 1, sizeof *nlos);
    unsigned char *buf = malloc(HDR + MAXPAY + 8);
    if (!nlos || !buf)
        die("out of memory", NULL);
    int dfd = -1;
    for (uint64_t i = 0; i < n; i++) {
        if (i % per == 0) {
            if (dfd >= 0)
                close(dfd);
            snprintf(path, sizeof path, "%s/data/daos/%04llu", dir,
                     (unsigned long long)(i / per + 1));
            mkdir_p(path);
            dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0)
                die("open", path);
        }
        write_nlo(dfd, path, 1, i, buf, &nlos[i]);
        if ((i + 1) % 100000 == 0)
            fprintf(stderr, "bench-gen: %llu NLOs\n", (unsigned long long)(i + 1));
    }
    if (dfd >= 0)
        close(dfd);
    /* Database d references NLO i for every i % ndbs == d (each NLO once), plus as many
       NLOs picked at random (shared with other databases). */
    size_t own = ndbs ? (size_t)((n + ndbs - 1) / ndbs) : 0;
    uint32_t *refs = malloc((2 * own + 256) * sizeof *refs);
    for (unsigned d = 0; d < ndbs; d++) {
        size_t nr = 0;
        for (uint64_t i = d; i < n; i += ndbs)
            refs[nr++] = (uint32_t)i;
        size_t mine = nr;
        uint64_t r = mix(0xabcdef00ull + d);
        for (size_t k = 0; k < mine && n; k++) {
            r = mix(r);
            refs[nr++] = (uint32_t)(r % n);
        }
        qsort(refs, nr, sizeof *refs, cmp_u32);
        char title[64];
        snprintf(path, sizeof path, "%s/data/mail/user%04u.nsf", dir, d);
        snprintf(title, sizeof title, "user%04u", d);
        make_db(path, title, 1000 + d, nlos, refs, nr, 200, 0);
        if ((d + 1) % 100 == 0)
            fprintf(stderr, "bench-gen: %u databases\n", d + 1);
    }
    for (unsigned b = 0; b < nbig; b++) {
        size_t nr = 0;
        uint64_t r = mix(0x77770000ull + b);
        for (size_t k = 0; k < 200 && n; k++) {
            r = mix(r);
            refs[nr++] = (uint32_t)(r % n);
        }
        char title[64];
        snprintf(path, sizeof path, "%s/data/mail/big%02u.nsf", dir, b);
        snprintf(title, sizeof title, "big%02u", b);
        make_db(path, title, 5000 + b, nlos, refs, nr, 3000, (uint64_t)bigmb << 20);
        fprintf(stderr, "bench-gen: big database %u of %u MiB\n", b + 1, bigmb);
    }
    free(refs);
    free(nlos);
    free(buf);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("create", path);
    fprintf(f,
            "# generated by bench-gen: %llu NLOs, %u databases, %u x %u MiB\n"
            "server:\n"
            "  data_dir: data\n"
            "  databases: [\"**/*.nsf\"]\n"
            "  daos_dir: daos\n"
            "  max_files_per_subdir: %llu\n"
            "  min_object_size: %d\n"
            "  deferred_deletion_days: 30\n"
            "  encryption: false\n"
            "  key_file: server.key\n"
            "backup:\n"
            "  target: run/target\n"
            "catalog: run/catalog.db\n",
            (unsigned long long)n, ndbs, nbig, bigmb, (unsigned long long)per, MINPAY);
    if (fclose(f) != 0)
        die("write", path);
    return 0;
}

static int add(const char *dir, uint64_t count, uint64_t seed)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/daos", dir);
    DIR *d = opendir(path);
    if (!d)
        die("open", path);
    int top = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) == 4 && strspn(e->d_name, "0123456789") == 4 && atoi(e->d_name) > top)
            top = atoi(e->d_name);
    }
    closedir(d);
    snprintf(path, sizeof path, "%s/data/daos/%04d", dir, top + 1);
    mkdir_p(path);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        die("open", path);
    unsigned char *buf = malloc(HDR + MAXPAY + 8);
    struct nlo o;
    for (uint64_t i = 0; i < count; i++)
        write_nlo(dfd, path, seed, i, buf, &o);
    free(buf);
    close(dfd);
    printf("%04d\n", top + 1);
    return 0;
}

/*
 * one DIR MB: a server of one large database (DIR/data/mail/one.nsf, documents with 3 KB
 * bodies up to MB MiB, no NLO references) that dvload can write (its dvload_accounts and
 * dvload_txlog tables), an empty DAOS directory and DIR/config.yaml: the single-database copy
 * benchmarks of bench/run.sh (issue 16), alone and beside a committing writer.
 */
static int one(const char *dir, unsigned mb)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/daos", dir);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/data/mail", dir);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/data/mail/one.nsf", dir);
    make_db(path, "one", 9000, NULL, NULL, 0, 3000, (uint64_t)mb << 20);
    sqlite3 *h = NULL;
    if (sqlite3_open(path, &h) != SQLITE_OK)
        die("open", path);
    sq(h, "BEGIN;"
          "CREATE TABLE dvload_accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
          "CREATE TABLE dvload_txlog(seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL,"
          " writer INTEGER NOT NULL, kind TEXT NOT NULL);"
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16)"
          " INSERT INTO dvload_accounts SELECT i, 1000 FROM n;"
          "INSERT INTO dvload_txlog(at_us, writer, kind) VALUES (0, 0, 'init');"
          "COMMIT");
    if (sqlite3_close(h) != SQLITE_OK)
        die("close", path);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("create", path);
    fprintf(f,
            "# generated by bench-gen: one database of %u MiB\n"
            "server:\n"
            "  data_dir: data\n"
            "  databases: [\"**/*.nsf\"]\n"
            "  daos_dir: daos\n"
            "  min_object_size: %d\n"
            "  encryption: false\n"
            "  key_file: server.key\n"
            "backup:\n"
            "  target: run/target\n"
            "catalog: run/catalog.db\n",
            mb, MINPAY);
    if (fclose(f) != 0)
        die("write", path);
    fprintf(stderr, "bench-gen: one database of %u MiB\n", mb);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "init") == 0)
        return init(argv[2], strtoull(argv[3], NULL, 10), (unsigned)atoi(argv[4]),
                    (unsigned)atoi(argv[5]), (unsigned)atoi(argv[6]));
    if (argc == 4 && strcmp(argv[1], "one") == 0)
        return one(argv[2], (unsigned)atoi(argv[3]));
    if (argc == 5 && strcmp(argv[1], "add") == 0) {
        uint64_t seed = strtoull(argv[4], NULL, 10);
        if (seed < 2) {
            fprintf(stderr, "bench-gen: add: SEED must be 2 or more (1 is init's)\n");
            return 2;
        }
        return add(argv[2], strtoull(argv[3], NULL, 10), seed);
    }
    fprintf(stderr, "usage: bench-gen init DIR NLOS DBS BIGDBS BIGMB\n"
                    "       bench-gen add DIR COUNT SEED\n"
                    "       bench-gen one DIR MB\n");
    return 2;
}
