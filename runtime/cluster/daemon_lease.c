/*
 * daemon_lease.c: cluster mode's fence. Nimbus gives a supervisor's slots to other hosts once ZooKeeper expires the
 * supervisor's session, which it does after the session timeout T without hearing from it; a hung host (SIGSTOP, a
 * long pause, a cut network) may then wake up still running the old workers, and two copies of a task would feed
 * the same sink. So a worker takes tuples only under a lease (control.h, `lease`; executor.c stops before the next
 * tuple once it is over), and the daemon renews it only on ZooKeeper's word:
 *   - every T/8 it notes the time, asks ZooKeeper whether its own ephemeral node is there, and when it is, leases
 *     its workers until that time + T/2. An answer shows that the session lived when the question was asked, so
 *     ZooKeeper cannot expire it before that time + T: every lease is over before nimbus may move the slots (the
 *     clocks are the same host's CLOCK_MONOTONIC; the other half of T is the margin for the ensemble's clock and
 *     the time nimbus takes to see the node go).
 *   - a part started under an earlier session is not renewed but stopped at once (no drain: it may not take a
 *     tuple), and started again if nimbus still places it here. Its positions and figures are left as they are:
 *     those in ZooKeeper are its successor's.
 * Local mode, `gale run --workers` and a daemon's own assignments (`gale ctl assign`) have no lease.
 */
#include <stdint.h>

#include "daemon_state.h"
#include "log.h"

/* How often the lease is renewed, and for how long, as parts of the session timeout. */
#define RENEW_PARTS 8
#define LEASE_PARTS 2
#define RENEW_MIN_MS 50

/* A new lease when ZooKeeper confirms the session. */
static void confirm(supd_t *d)
{
    uint64_t session = gale_sup_node_session(d->node), asked = uv_hrtime();
    int ms = gale_sup_node_session_ms(d->node);
    if (session && ms > 0 && gale_sup_node_check(d->node) == 0) {
        d->lease_ns = asked + (uint64_t)ms * 1000000u / LEASE_PARTS;
        d->lease_session = session;
    }
}

static void renew(supd_t *d)
{
    confirm(d);
    for (topo_rec_t *r = d->topos; r; r = r->next) {
        if (!r->cluster || !r->sup || r->expired) continue;
        if (r->session == d->lease_session) {
            gale_sup_lease(r->sup, d->lease_ns);
        } else if (r->session < d->lease_session) {
            gale_logf(GALE_LOG_WARN, "supervisor",
                      "%s: started under a ZooKeeper session that expired: its workers stop now, taking no tuple "
                      "(nimbus may have placed its slots elsewhere); it starts again if it is still placed here",
                      r->id);
            r->expired = true;
            r->killing = true; /* not ended by itself: placed here still, it starts again */
            gale_sup_kill(r->sup, 0, "its supervisor's ZooKeeper session expired");
        }
    }
}

static void on_lease_timer(uv_timer_t *h) { renew(h->data); }

void gale__supd_lease_start(supd_t *d)
{
    int ms = gale_sup_node_session_ms(d->node) / RENEW_PARTS;
    uv_timer_init(&d->loop, &d->lease_timer);
    d->lease_timer.data = d;
    uv_timer_start(&d->lease_timer, on_lease_timer, 0, (uint64_t)(ms > RENEW_MIN_MS ? ms : RENEW_MIN_MS));
    d->lease_timing = true;
}

void gale__supd_lease_stop(supd_t *d)
{
    if (!d->lease_timing) return;
    d->lease_timing = false;
    uv_close((uv_handle_t *)&d->lease_timer, NULL);
}

uint64_t gale__supd_lease_for(supd_t *d, topo_rec_t *r)
{
    confirm(d); /* a fresh lease, rather than one that may end before the next renewal */
    r->session = gale_sup_node_session(d->node);
    /* Not confirmed in this session: the workers start fenced, until a renewal is. */
    return r->session && r->session == d->lease_session ? d->lease_ns : 1;
}
