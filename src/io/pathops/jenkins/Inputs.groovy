package io.pathops.jenkins

/**
 * The identifier rules of pathops_contracts.identifiers, checked before anything runs.
 * A step refuses a malformed value with error "[step] ..." instead of passing it on.
 */
class Inputs implements Serializable {

    private static final long serialVersionUID = 1L

    private static final String IMAGE_NAME = /[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)+/
    private static final String IMAGE_TAG = /(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?/
    private static final String WORKLOAD_KIND = /(deployment|statefulset|daemonset|job|cronjob|replicaset|pod)/
    private static final String PROJECT_SEGMENT = /[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?/

    static final Map<String, String> PATTERNS = [
        app             : /[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?/,
        namespace       : /[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/,
        env             : /preflight|production/,
        id              : /[A-Za-z0-9]([A-Za-z0-9._-]{0,46}[A-Za-z0-9])?/,
        sha             : /[0-9a-f]{40}|[0-9a-f]{64}/,
        snapshotId      : /snap-[0-9a-f]{32}/,
        patchId         : /patch-[0-9a-f]{32}/,
        projectPath     : PROJECT_SEGMENT + '(/' + PROJECT_SEGMENT + ')+',
        timeWindow      : /([0-9]+[smhd])+/,
        image           : IMAGE_NAME + IMAGE_TAG,
        imageRepository : IMAGE_NAME,
        url             : /https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~\/-]*)?/,
        gitUrl          : /(https?|ssh|file):\/\/[A-Za-z0-9@._:~\/-]+/,
        credentialsId   : /[A-Za-z0-9._-]{1,128}/,
        path            : /[A-Za-z0-9_][A-Za-z0-9_.\/-]{0,254}/,
        workload        : WORKLOAD_KIND + /\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?/,
        label           : /[A-Za-z0-9:._-]{1,64}/,
    ]

    /** Fails the step unless every required key is present and every present key matches its rule. */
    static void check(Object script, String step, Map cfg, Map<String, String> rules, List<String> required) {
        required.each { String key ->
            if (cfg[key] == null || cfg[key].toString().trim().isEmpty()) {
                script.error("[${step}] ${key} is required")
            }
        }
        rules.each { String key, String rule ->
            Object value = cfg[key]
            if (value == null) {
                return
            }
            String text = value
            if (text.length() > 512 || !(text ==~ PATTERNS[rule])) {
                script.error("[${step}] ${key} is not a valid ${rule}")
            }
        }
    }
}
