/* meter.c - see meter.h. */
#include "meter.h"

#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

void meter_fmt_duration(double s, char *buf, size_t n)
{
    if (s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static int term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

static void fmt_line(const struct dv_progress *p, char *buf, size_t n, int width, bool bar)
{
    double now = dv_mono(), rate, eta;
    job_rate(p, now, &rate, &eta);
    char done[32], total[32], rbuf[32], etab[16], counts[96] = "";
    int pct = -1;
    if (p->bytes_total) {
        pct = (int)(100.0 * (double)p->bytes_done / (double)p->bytes_total);
    } else if (p->items_total) {
        pct = (int)(100.0 * (double)p->items_done / (double)p->items_total);
    }
    if (pct > 100)
        pct = 100;
    if (p->items_total)
        snprintf(counts, sizeof counts, "%llu/%llu", (unsigned long long)p->items_done,
                 (unsigned long long)p->items_total);
    else
        snprintf(counts, sizeof counts, "%llu", (unsigned long long)p->items_done);
    dv_fmt_bytes(p->bytes_done, done, sizeof done);
    if (p->bytes_total)
        dv_fmt_bytes(p->bytes_total, total, sizeof total);
    else
        snprintf(total, sizeof total, "?");
    if (p->bytes_done || p->bytes_total) {
        dv_fmt_bytes((uint64_t)rate, rbuf, sizeof rbuf);
        strcat(rbuf, "/s");
    } else {
        snprintf(rbuf, sizeof rbuf, "%.0f/s", rate);
    }
    meter_fmt_duration(eta, etab, sizeof etab);
    char barbuf[64] = "";
    if (bar && pct >= 0) {
        int w = 20, fill = pct * w / 100;
        barbuf[0] = '[';
        for (int i = 0; i < w; i++)
            barbuf[1 + i] = i < fill ? '#' : '.';
        snprintf(barbuf + 1 + w, sizeof barbuf - 1 - (size_t)w, "] %3d%% ", pct);
    }
    int len = snprintf(buf, n, "%-9s %s%s items  %s of %s  %s  ETA %s", p->phase, barbuf, counts,
                       done, total, rbuf, etab);
    if (len > 0 && len < width - 2 && p->item[0]) {
        int room = width - 3 - len;
        char item[sizeof p->item * 4];
        dv_escape(p->item, item, sizeof item); /* a database or NLO name: nothing raw */
        if (room > 8)
            snprintf(buf + len, n - (size_t)len, "  %.*s", room, item);
    }
    if ((int)strlen(buf) >= width)
        buf[width - 1] = '\0';
}

static void on_progress(void *ud, const struct dv_progress *p)
{
    struct cli_meter *m = ud;
    char line[512];
    if (m->tty) {
        fmt_line(p, line, sizeof line, term_width(m->out), true);
        fprintf(m->out, "\r%s\033[K", line);
        fflush(m->out);
        m->drawn = true;
        return;
    }
    if (m->quiet)
        return;
    double now = dv_mono();
    bool new_phase = strcmp(m->last_phase, p->phase) != 0;
    bool phase_done = (p->items_total && p->items_done >= p->items_total) ||
                      (p->bytes_total && p->bytes_done >= p->bytes_total);
    if (!new_phase && now - m->last_plain < 10 && !(phase_done && !m->done_printed))
        return;
    if (new_phase)
        m->done_printed = false;
    if (phase_done)
        m->done_printed = true;
    snprintf(m->last_phase, sizeof m->last_phase, "%s", p->phase);
    m->last_plain = now;
    fmt_line(p, line, sizeof line, 400, false);
    fprintf(m->out, "%s\n", line);
    fflush(m->out);
}

void meter_clear(struct cli_meter *m)
{
    if (m->tty && m->drawn) {
        fprintf(m->out, "\r\033[K");
        fflush(m->out);
        m->drawn = false;
    }
}

static void on_event(void *ud, enum dv_level level, const char *msg)
{
    struct cli_meter *m = ud;
    if (level == DV_INFO && m->quiet)
        return;
    meter_clear(m);
    const char *tag = level == DV_ERROR ? "error: " : level == DV_WARN ? "warning: " : "";
    fprintf(m->out, "%s%s\n", tag, dv_esc(msg)); /* events quote names and files */
    fflush(m->out);
}

void meter_attach(struct cli_meter *m, struct dv_job *j, FILE *out)
{
    memset(m, 0, sizeof *m);
    m->out = out;
    m->tty = isatty(fileno(out));
    j->on_progress = on_progress;
    j->progress_ud = m;
    j->on_event = on_event;
    j->event_ud = m;
}

void meter_attach_tty(struct cli_meter *m, struct dv_job *j, FILE *out)
{
    if (isatty(fileno(out)))
        meter_attach(m, j, out);
    else
        memset(m, 0, sizeof *m);
}

static struct dv_job *signal_job;

static void on_signal(int sig)
{
    if (signal_job && !job_cancelled(signal_job)) {
        job_cancel(signal_job);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void meter_cancel_on_signal(struct dv_job *j)
{
    signal_job = j;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
