/*
** cli/cmd-serve.c - `cleave serve`: the edge role of co-inference.  Accepts end processes one
** after another and runs their edge part; a failed session is reported and the next one served.
*/
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netdb.h>

#include "runtime/coinfer.h"

static const char usage[] =
    "usage: cleave serve --listen HOST:PORT [--max-clients N] [--timeout S]\n"
    "\n"
    "Serve as the edge of split runs (`cleave run --plan PLAN.json --edge HOST:PORT`): each\n"
    "end process sends its model and placement; this process prepares the edge's nodes (same\n"
    "seed, so the same weights) and runs them when asked, returning the tensors the end needs\n"
    "(docs/coinference.md).  Clients are served one at a time; a client that fails (bad\n"
    "frames, a disconnect, a model that does not import) is reported on stderr and the next\n"
    "one is served.  Port 0 picks a free port; the address is printed on stderr once\n"
    "listening.  SIGINT / SIGTERM stop the server.\n"
    "\n"
    "    --max-clients N  exit after N clients (default: serve until stopped)\n"
    "    --timeout S      give up on a client silent for S seconds (default 120)\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"max-clients", required_argument, NULL, 'm'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *listen_addr = NULL;
    long max_clients = 0, timeout = 120;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': listen_addr = optarg; break;
        case 'm':
            if (cli_parse_int("serve", "--max-clients", optarg, 1, 1000000000L, &max_clients))
                return CLI_USAGE;
            break;
        case 't':
            if (cli_parse_int("serve", "--timeout", optarg, 1, 86400, &timeout))
                return CLI_USAGE;
            break;
        case 'h': fputs(usage, stdout); return cli_finish(CLI_OK);
        default: return cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!listen_addr)
        return cli_usage_error("serve", "--listen is required");

    char err[1024], bound[300];
    int lfd;
    cleave_status rc = rt_listen(&lfd, listen_addr, bound, sizeof bound, err, sizeof err);
    if (rc == CLEAVE_EINVAL)
        return cli_usage_error("serve", "%s", err);
    if (rc != CLEAVE_OK)
        return cli_error("%s", err);

    /* No SA_RESTART: a signal interrupts accept() so the loop can stop. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fprintf(stderr, "serve: listening on %s\n", bound);
    long served = 0;
    int code = CLI_OK;
    while (!stop_requested && (max_clients == 0 || served < max_clients)) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int cfd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            code = cli_error("cannot accept a client on %s: %s", bound, strerror(errno));
            break;
        }
        char h[128] = "?", p[16] = "?";
        getnameinfo((struct sockaddr *)&peer, pl, h, sizeof h, p, sizeof p,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        rt_session_report rep;
        rc = rt_edge_session(cfd, (int)timeout, &rep, err, sizeof err);
        served++;
        if (rc == CLEAVE_OK)
            fprintf(stderr, "serve: client %s:%s: model '%s', %d nodes here, %d segments run\n", h,
                    p, rep.model, rep.nodes_here, rep.segments);
        else
            fprintf(stderr, "serve: client %s:%s: %s\n", h, p, err);
    }
    close(lfd);
    if (stop_requested)
        fprintf(stderr, "serve: stopped after %ld client%s\n", served, served == 1 ? "" : "s");
    return cli_finish(code);
}
