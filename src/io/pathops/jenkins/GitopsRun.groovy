package io.pathops.jenkins

/**
 * What every `gitops-patcher schedule` call takes: shared defaults and the environment built
 * from a step's merged config. Each schedule step adds only the variables of its agent.
 */
class GitopsRun implements Serializable {

    private static final long serialVersionUID = 1L

    // No endpoint here: minioEndpoint and controlPlaneUrl come from the caller or the global
    // environment (Inputs.endpoints) and are required; so are controlPlaneEgress and kubeApiEgress
    // (the agents' NetworkPolicies). llmEgress is optional: without it the fix agent gets no LLM egress.
    static final Map DEFAULTS = [
        env                 : 'preflight',
        gitopsBranch        : 'main',
        minioBucket         : 'pathops-evidence',
        gitlabCredentialsId : 'pathops-gitlab-token',
    ]

    static final List<String> REQUIRED = ['app', 'gitopsRepo', 'image', 'minioEndpoint', 'controlPlaneUrl',
                                          'controlPlaneEgress', 'kubeApiEgress']

    /** An agent image of the registry the global environment names (PATHOPS_REGISTRY), or none. */
    static String image(Map endpoints, String name) {
        return endpoints.registry ? "${endpoints.registry}/${name}".toString() : null
    }

    static final Map<String, String> RULES = [
        app: 'app', env: 'env', incidentId: 'id', image: 'image', gitopsRepo: 'gitUrl', gitopsBranch: 'label',
        minioEndpoint: 'url', minioBucket: 'bucket', controlPlaneUrl: 'url', gitlabCredentialsId: 'credentialsId',
        controlPlaneEgress: 'egress', kubeApiEgress: 'egress', llmEgress: 'egress',
    ]

    static List<String> environment(String agent, Map cfg) {
        // A verification run may answer no incident: it is named after its own verification id.
        List<String> incident = cfg.incidentId ? ["INCIDENT_ID=${cfg.incidentId}".toString()] : []
        List<String> llm = cfg.llmEgress ? ["EGRESS_LLM=${cfg.llmEgress}".toString()] : []
        return incident + llm + [
            "AGENT=${agent}",
            "APP_ID=${cfg.app}",
            "ENV=${cfg.env}",
            "AGENT_IMAGE=${cfg.image}",
            "GITOPS_REPO_URL=${cfg.gitopsRepo}",
            "GITOPS_BRANCH=${cfg.gitopsBranch}",
            "MINIO_ENDPOINT=${cfg.minioEndpoint}",
            "MINIO_BUCKET=${cfg.minioBucket}",
            "CONTROL_PLANE_URL=${cfg.controlPlaneUrl}",
            "EGRESS_CONTROL_PLANE=${cfg.controlPlaneEgress}",
            "EGRESS_KUBE_API=${cfg.kubeApiEgress}",
        ]*.toString()
    }
}
