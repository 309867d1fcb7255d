package io.pathops.jenkins

import java.text.ParseException
import java.text.SimpleDateFormat

/**
 * The identifier rules of pathops_contracts.identifiers, checked before anything runs.
 * A step refuses a malformed value with error "[step] ..." instead of passing it on.
 */
class Inputs implements Serializable {

    private static final long serialVersionUID = 1L

    // A path component's separators as identifiers.IMAGE_REF writes them: '.', '_', '__' or dashes.
    private static final String IMAGE_PATH = /(\/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)+/
    private static final String IMAGE_NAME = /[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?/ + IMAGE_PATH
    private static final String IMAGE_TAG = /(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?/
    private static final String WORKLOAD_KIND = /(deployment|statefulset|daemonset|job|cronjob|replicaset|pod|service)/
    private static final String PROJECT_SEGMENT = /[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?/
    // A segment starts with a letter, digit or '_': never '.', '..', empty or hidden.
    private static final String PATH_SEGMENT = /[A-Za-z0-9_][A-Za-z0-9_.-]*/
    private static final String TIMESTAMP = /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/

    // The bounds of pathops_contracts.identifiers: MAX_TIME_WINDOW, EARLIEST_YEAR, LATEST_YEAR.
    static final long MAX_WINDOW_SECONDS = 7L * 24 * 3600
    static final int EARLIEST_YEAR = 2000
    static final int LATEST_YEAR = 2999
    private static final Map<String, Integer> UNIT_SECONDS = [s: 1, m: 60, h: 3600, d: 86400]

    static final Map<String, String> PATTERNS = [
        app             : /[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?/,
        namespace       : /[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/,
        env             : /preflight|production/,
        id              : /[A-Za-z0-9]([A-Za-z0-9._-]{0,46}[A-Za-z0-9])?/,
        verificationId  : /VER-[A-Za-z0-9]([A-Za-z0-9._-]{0,42}[A-Za-z0-9])?/,
        sha             : /[0-9a-f]{40}|[0-9a-f]{64}/,
        bucket          : /[a-z0-9][a-z0-9.-]*[a-z0-9]/,
        snapshotId      : /snap-[0-9a-f]{32}/,
        patchId         : /patch-[0-9a-f]{32}/,
        reportId        : /report-[0-9a-f]{32}/,
        mrIid           : /[1-9][0-9]{0,9}/,
        projectPath     : PROJECT_SEGMENT + '(/' + PROJECT_SEGMENT + ')+',
        timeWindow      : /([0-9]+[smhd])+/ + '|' + TIMESTAMP + '/' + TIMESTAMP,
        image           : IMAGE_NAME + IMAGE_TAG,
        imageRepository : IMAGE_NAME,
        url             : /https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~\/-]*)?/,
        gitUrl          : /(https?|ssh|file):\/\/[A-Za-z0-9@._:~\/-]+/,
        credentialsId   : /[A-Za-z0-9._-]{1,128}/,
        path            : PATH_SEGMENT + '(/' + PATH_SEGMENT + ')*',
        workload        : WORKLOAD_KIND + /\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?/,
        label           : /[A-Za-z0-9:._-]{1,64}/,
        // gitops-patcher's egress destination (gitops_patcher.namespace): CIDR:PORT or ns/NAMESPACE:PORT.
        egress          : /([0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,2}|ns\/[a-z0-9]([a-z0-9-]*[a-z0-9])?):[0-9]{1,5}/,
    ]

    // The rules of pathops_contracts.identifiers (by name) each rule here mirrors; a test feeds one
    // corpus through both and fails on any value they judge differently (tests/shared_library).
    // Rules not listed are Jenkins' own (env, mrIid, imageRepository, gitUrl, credentialsId, path, label, egress).
    static final Map<String, List<String>> MIRRORS = [
        app: ['app id'], namespace: ['namespace'], id: ['incident id', 'change set id'],
        verificationId: ['verification id'],
        sha: ['commit sha'], snapshotId: ['artifact id'], patchId: ['artifact id'], reportId: ['artifact id'],
        projectPath: ['project path'], timeWindow: ['time window'], image: ['image'], url: ['endpoint URL'],
        workload: ['workload'], bucket: ['bucket'],
    ]

    // The max_length of each mirrored rule (and of path); any other value is at most 512 characters.
    static final Map<String, Integer> MAX_LENGTHS = [
        app: 40, namespace: 63, id: 48, verificationId: 48, sha: 64, snapshotId: 39, patchId: 39, reportId: 39,
        projectPath: 255,
        timeWindow: 64, image: 512, url: 512, workload: 300, bucket: 63, path: 255,
    ]

    /**
     * Where a step's endpoints come from when its caller does not pass them: the controller's global
     * environment (jenkins/casc.yaml). No endpoint has a default: a forgotten one stops the step
     * instead of pointing a Job at someone else's MinIO, control plane, GitLab or registry. Nor has
     * the agents' egress to the control plane and the Kubernetes API (a NetworkPolicy to a guessed
     * address cuts the agents off silently); the LLM egress is optional (without it, none).
     */
    static final Map<String, String> ENDPOINT_VARIABLES = [
        minioEndpoint  : 'PATHOPS_MINIO_ENDPOINT',
        controlPlaneUrl: 'PATHOPS_CONTROL_PLANE_URL',
        gitlabUrl      : 'PATHOPS_GITLAB_URL',
        callbackUrl    : 'PATHOPS_JENKINS_WEBHOOK_URL',
        registry       : 'PATHOPS_REGISTRY',
        controlPlaneEgress: 'PATHOPS_EGRESS_CONTROL_PLANE',
        kubeApiEgress  : 'PATHOPS_EGRESS_KUBE_API',
        llmEgress      : 'PATHOPS_EGRESS_LLM',
    ]
    // The image arguments default to images of PATHOPS_REGISTRY.
    private static final Map<String, String> DERIVED = [image: 'registry', runtimeImage: 'registry',
                                                        harborRepo: 'registry']

    /** The endpoints the global environment sets, by step argument name. */
    static Map endpoints(Object env) {
        Map found = [:]
        ENDPOINT_VARIABLES.each { String key, String variable ->
            Object value = env?."${variable}"
            if (value) {
                found[key] = value.toString()
            }
        }
        return found
    }

    /** Fails the step unless every required key is present and every present key matches its rule. */
    static void check(Object script, String step, Map cfg, Map<String, String> rules, List<String> required) {
        required.each { String key ->
            if (cfg[key] == null || cfg[key].toString().trim().isEmpty()) {
                String variable = ENDPOINT_VARIABLES[DERIVED[key] ?: key]
                script.error("[${step}] ${key} is required" +
                             (variable ? ": pass it or set ${variable} in the Jenkins global environment" : ''))
            }
        }
        rules.each { String key, String rule ->
            Object value = cfg[key]
            if (value == null) {
                return
            }
            String text = value
            if (text.length() > MAX_LENGTHS.get(rule, 512) || !(text ==~ PATTERNS[rule])) {
                script.error("[${step}] ${key} is not a valid ${rule}")
            }
            if (rule == 'timeWindow' && !sensibleWindow(text)) {
                script.error(
                    "[${step}] ${key} must be a window of 1s to 7d in the years ${EARLIEST_YEAR}-${LATEST_YEAR}")
            }
        }
    }

    /** Not empty, at most MAX_WINDOW_SECONDS, and an interval between real dates that ends after it starts. */
    static boolean sensibleWindow(String text) {
        if (text.contains('/')) {
            List<Long> moments = text.split('/').collect { String part -> epochSeconds(part) }
            long seconds = moments[1] - moments[0]
            return !moments.contains(-1L) && seconds > 0 && seconds <= MAX_WINDOW_SECONDS
        }
        BigInteger total = BigInteger.ZERO
        (text =~ /([0-9]+)([smhd])/).each { List<String> match ->
            total += new BigInteger(match[1]) * UNIT_SECONDS[match[2]]
        }
        return total > BigInteger.ZERO && total <= BigInteger.valueOf(MAX_WINDOW_SECONDS)
    }

    /** Seconds since the epoch, or -1 when there is no such date or its year is out of bounds. */
    private static long epochSeconds(String text) {
        int year = text.substring(0, 4) as int
        if (year < EARLIEST_YEAR || year > LATEST_YEAR) {
            return -1L
        }
        SimpleDateFormat format = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.ROOT)
        format.lenient = false
        format.timeZone = TimeZone.getTimeZone('UTC')
        try {
            return format.parse(text).time.intdiv(1000)
        } catch (ParseException ignored) {
            return -1L
        }
    }
}
