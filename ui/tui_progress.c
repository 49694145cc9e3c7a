/* tui_progress.c - the progress widget: phase, bar, items, bytes, rate, ETA of a job. */
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "meter.h"
#include "tui.h"
#include "util.h"

int tui_progress_percent(const struct dv_progress *p)
{
    uint64_t done, total;
    if (p->bytes_total) {
        done = p->bytes_done;
        total = p->bytes_total;
    } else if (p->items_total) {
        done = p->items_done;
        total = p->items_total;
    } else {
        return -1;
    }
    if (done >= total)
        return 100;
    return (int)((double)done * 100.0 / (double)total);
}

void tui_progress_text(const struct dv_progress *p, double now, char *buf, size_t n)
{
    double rate, eta;
    job_rate(p, now, &rate, &eta);
    char items[64], bytes[64] = "", r[32] = "", e[32] = "";
    if (p->items_total)
        snprintf(items, sizeof items, "%llu/%llu items", (unsigned long long)p->items_done,
                 (unsigned long long)p->items_total);
    else
        snprintf(items, sizeof items, "%llu items", (unsigned long long)p->items_done);
    bool by_bytes = p->bytes_total > 0 || p->bytes_done > 0;
    if (by_bytes) {
        char d[24], t[24];
        dv_fmt_bytes(p->bytes_done, d, sizeof d);
        if (p->bytes_total) {
            dv_fmt_bytes(p->bytes_total, t, sizeof t);
            snprintf(bytes, sizeof bytes, "  %s/%s", d, t);
        } else {
            snprintf(bytes, sizeof bytes, "  %s", d);
        }
    }
    if (rate > 0) {
        if (by_bytes) {
            char rb[24];
            dv_fmt_bytes((uint64_t)rate, rb, sizeof rb);
            snprintf(r, sizeof r, "  %s/s", rb);
        } else {
            snprintf(r, sizeof r, "  %.0f/s", rate);
        }
    }
    if (eta >= 0) {
        char d[24];
        meter_fmt_duration(eta, d, sizeof d);
        snprintf(e, sizeof e, "  ETA %s", d);
    }
    snprintf(buf, n, "%s%s%s%s", items, bytes, r, e);
}

void tui_progress_draw(struct tui_rect r, const struct dv_progress *p, double now)
{
    if (r.h < 2 || r.w < 12)
        return;
    char head[320];
    snprintf(head, sizeof head, "%s%s%s", p->phase, p->item[0] ? ": " : "", p->item);
    tui_put(r.y, r.x, r.w, head, TH_TEXT, true);
    /* the bar: [#####.....] with the percentage in the middle */
    int bw = r.w - 2, pct = tui_progress_percent(p);
    int fill = pct < 0 ? 0 : (int)((long)bw * pct / 100);
    char label[16];
    if (pct < 0)
        snprintf(label, sizeof label, "...");
    else
        snprintf(label, sizeof label, "%d%%", pct);
    int lx = (bw - (int)strlen(label)) / 2;
    tui_put(r.y + 1, r.x, 1, "[", TH_BORDER, false);
    for (int i = 0; i < bw; i++) {
        char c[2] = {' ', 0};
        if (i >= lx && i < lx + (int)strlen(label))
            c[0] = label[i - lx];
        else if (theme_mode() == THEME_MONO || !tui_utf8())
            c[0] = i < fill ? '#' : '.';
        tui_put(r.y + 1, r.x + 1 + i, 1, c, i < fill ? TH_PROGRESS : TH_PROGRESS_BG, false);
    }
    tui_put(r.y + 1, r.x + 1 + bw, 1, "]", TH_BORDER, false);
    if (r.h >= 3) {
        char fig[200];
        tui_progress_text(p, now, fig, sizeof fig);
        tui_put(r.y + 2, r.x, r.w, fig, TH_DIM, true);
    }
}
