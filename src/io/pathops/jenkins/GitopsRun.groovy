package io.pathops.jenkins

/**
 * What every `gitops-patcher schedule` call takes: shared defaults and the environment built
 * from a step's merged config. Each schedule step adds only the variables of its agent.
 */
class GitopsRun implements Serializable {

    private static final long serialVersionUID = 1L

    static final Map DEFAULTS = [
        env                 : 'preflight',
        gitopsBranch        : 'main',
        minioEndpoint       : 'https://minio.demo.pathops.io',
        minioBucket         : 'pathops-evidence',
        controlPlaneUrl     : 'https://control-plane.pathops.io',
        gitlabCredentialsId : 'pathops-gitlab-token',
    ]

    static final Map<String, String> RULES = [
        app: 'app', env: 'env', incidentId: 'id', image: 'image', gitopsRepo: 'gitUrl', gitopsBranch: 'label',
        minioEndpoint: 'url', minioBucket: 'bucket', controlPlaneUrl: 'url', gitlabCredentialsId: 'credentialsId',
    ]

    static List<String> environment(String agent, Map cfg) {
        return [
            "AGENT=${agent}",
            "APP_ID=${cfg.app}",
            "ENV=${cfg.env}",
            "INCIDENT_ID=${cfg.incidentId}",
            "AGENT_IMAGE=${cfg.image}",
            "GITOPS_REPO_URL=${cfg.gitopsRepo}",
            "GITOPS_BRANCH=${cfg.gitopsBranch}",
            "MINIO_ENDPOINT=${cfg.minioEndpoint}",
            "MINIO_BUCKET=${cfg.minioBucket}",
            "CONTROL_PLANE_URL=${cfg.controlPlaneUrl}",
        ]*.toString()
    }
}
