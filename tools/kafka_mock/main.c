/*
 * gale-kafka-mock: a Kafka cluster for trying and testing the Kafka connectors where no broker runs. Debian has no
 * Kafka broker; librdkafka has a mock cluster that speaks the Kafka protocol over TCP (topics, partitions, produce,
 * fetch, consumer groups, committed offsets, idempotent producers), and this program hosts one until it is told to
 * stop. It is librdkafka's test cluster, not Kafka: what gale's Kafka connectors are tested against, and what the
 * README's example runs on.
 *
 *   gale-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--produce TOPIC:FILE]...
 *
 * Creates the topics, produces each line of each FILE as one record of TOPIC (no key; line i to partition
 * i % PARTITIONS, so that the partitions get equal shares in file order), then prints the bootstrap servers
 * ("127.0.0.1:PORT,...") as one line on standard output and serves until SIGINT or SIGTERM arrives. A test reads that line, so everything the line promises is in place when it is printed.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOPICS 32

typedef struct {
    const char *name;
    int partitions;
} topic_t;

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void usage(FILE *to)
{
    fprintf(to, "usage: gale-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--produce TOPIC:FILE]...\n"
                "  Hosts librdkafka's mock Kafka cluster on 127.0.0.1, prints its bootstrap servers as one line\n"
                "  when the topics exist and the files' lines are produced, and serves until SIGINT or SIGTERM.\n"
                "  A topic named only by --produce has 1 partition.\n");
}

static int partitions_of(const topic_t *topics, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(topics[i].name, name)) return topics[i].partitions;
    return 0;
}

/* Produces each line of `path` to `topic` and waits for every delivery. 0, or -1 with the reason printed. */
static int produce_file(rd_kafka_t *rk, const char *topic, int partitions, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gale-kafka-mock: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long i = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') n--;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % partitions)),
                                        RD_KAFKA_V_VALUE(line, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10); /* the local queue is full: let deliveries drain it */
        if (err) {
            fprintf(stderr, "gale-kafka-mock: cannot produce line %ld of %s: %s\n", i + 1, path, rd_kafka_err2str(err));
            rc = -1;
            break;
        }
        i++;
    }
    free(line);
    fclose(f);
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "gale-kafka-mock: %s: not every record was delivered in 30 s\n", path);
        rc = -1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    int brokers = 1, n_topics = 0, n_produce = 0;
    topic_t topics[MAX_TOPICS];
    const char *produce[MAX_TOPICS];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gale-kafka-mock: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--brokers")) {
            char *end;
            long b = strtol(v, &end, 10);
            if (*end || b < 1 || b > 16) {
                fprintf(stderr, "gale-kafka-mock: --brokers %s: want 1 to 16\n", v);
                return 2;
            }
            brokers = (int)b;
        } else if (!strcmp(a, "--topic") || !strcmp(a, "--produce")) {
            const char *colon = strrchr(v, ':');
            if (!colon || colon == v || !colon[1] || n_topics == MAX_TOPICS || n_produce == MAX_TOPICS) {
                fprintf(stderr, "gale-kafka-mock: %s %s: want %s\n", a, v,
                        a[2] == 't' ? "NAME:PARTITIONS" : "TOPIC:FILE");
                return 2;
            }
            if (a[2] == 'p') {
                produce[n_produce++] = v;
                continue;
            }
            char *end;
            long p = strtol(colon + 1, &end, 10);
            if (*end || p < 1 || p > 1000) {
                fprintf(stderr, "gale-kafka-mock: --topic %s: want 1 to 1000 partitions\n", v);
                return 2;
            }
            topics[n_topics++] = (topic_t){strndup(v, (size_t)(colon - v)), (int)p};
        } else {
            fprintf(stderr, "gale-kafka-mock: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    /* A topic named only by --produce gets one partition. */
    for (int i = 0; i < n_produce; i++) {
        char *name = strndup(produce[i], (size_t)(strrchr(produce[i], ':') - produce[i]));
        if (!partitions_of(topics, n_topics, name) && n_topics < MAX_TOPICS) topics[n_topics++] = (topic_t){name, 1};
        else free(name);
    }

    /* The cluster lives in a handle of its own; the producer below is a plain client of it over TCP. */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!host) {
        fprintf(stderr, "gale-kafka-mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, brokers);
    if (!mc) {
        fprintf(stderr, "gale-kafka-mock: cannot start the mock cluster\n");
        return 1;
    }
    for (int i = 0; i < n_topics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topics[i].name, topics[i].partitions, 1);
        if (err) {
            fprintf(stderr, "gale-kafka-mock: cannot create topic %s: %s\n", topics[i].name, rd_kafka_err2str(err));
            return 1;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);

    int rc = 0;
    if (n_produce) {
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof errstr) ||
            rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr)) {
            fprintf(stderr, "gale-kafka-mock: %s\n", errstr);
            return 1;
        }
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!p) {
            fprintf(stderr, "gale-kafka-mock: %s\n", errstr);
            return 1;
        }
        for (int i = 0; i < n_produce && !rc; i++) {
            const char *colon = strrchr(produce[i], ':');
            char *name = strndup(produce[i], (size_t)(colon - produce[i]));
            rc = produce_file(p, name, partitions_of(topics, n_topics, name), colon + 1);
            free(name);
        }
        rd_kafka_destroy(p);
    }
    if (!rc) {
        printf("%s\n", bootstraps);
        fflush(stdout);
        /* Blocked but for sigsuspend, so that a signal cannot slip in between the test and the wait. */
        sigset_t stops, none;
        sigemptyset(&stops);
        sigaddset(&stops, SIGINT);
        sigaddset(&stops, SIGTERM);
        sigprocmask(SIG_BLOCK, &stops, NULL);
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigemptyset(&none);
        while (!stop_signal) sigsuspend(&none);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    for (int i = 0; i < n_topics; i++) free((char *)topics[i].name);
    return rc ? 1 : 0;
}
