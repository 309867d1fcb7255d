import io.pathops.jenkins.Inputs

/**
 * Job schedule-evidence-collector (seed step 3): commit the Evidence Collector Job to the
 * app's GitOps repository; Argo CD runs it. Documentation: scheduleEvidenceCollector.txt.
 */
def call(Map userConfig = [:]) {
    Map defaults = [
        env                  : 'preflight',
        timeWindow           : '30m',
        image                : 'harbor.demo.pathops.io/pathops/evidence-collector:0.1.0',
        gitopsBranch         : 'main',
        minioEndpoint        : 'https://minio.demo.pathops.io',
        minioBucket          : 'pathops-evidence',
        controlPlaneUrl      : 'https://control-plane.pathops.io',
        gitlabCredentialsId  : 'pathops-gitlab-token',
    ]
    Map cfg = defaults << userConfig
    cfg.targetNamespace = cfg.targetNamespace ?: "${cfg.app}-${cfg.env}"
    cfg.agentsNamespace = cfg.agentsNamespace ?: "${cfg.app}-agents"
    Inputs.check(this, 'scheduleEvidenceCollector', cfg,
        [app: 'app', env: 'env', incidentId: 'id', targetNamespace: 'namespace', agentsNamespace: 'namespace',
         timeWindow: 'timeWindow', image: 'image', gitopsRepo: 'gitUrl', gitopsBranch: 'label',
         workload: 'workload', minioEndpoint: 'url', minioBucket: 'label', controlPlaneUrl: 'url',
         gitlabCredentialsId: 'credentialsId'],
        ['app', 'incidentId', 'gitopsRepo'])

    List<String> environment = [
        'AGENT=evidence-collector',
        "APP_ID=${cfg.app}",
        "ENV=${cfg.env}",
        "INCIDENT_ID=${cfg.incidentId}",
        "TARGET_NAMESPACE=${cfg.targetNamespace}",
        "AGENTS_NAMESPACE=${cfg.agentsNamespace}",
        "TIME_WINDOW=${cfg.timeWindow}",
        "AGENT_IMAGE=${cfg.image}",
        "GITOPS_REPO_URL=${cfg.gitopsRepo}",
        "GITOPS_BRANCH=${cfg.gitopsBranch}",
        "MINIO_ENDPOINT=${cfg.minioEndpoint}",
        "MINIO_BUCKET=${cfg.minioBucket}",
        "CONTROL_PLANE_URL=${cfg.controlPlaneUrl}",
    ]
    if (cfg.workload) {
        environment << "WORKLOAD=${cfg.workload}"
    }
    withCredentials([string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]) {
        withEnv(environment) {
            sh(label: 'gitops-patcher schedule evidence-collector', script: 'gitops-patcher schedule')
        }
    }
}
