import io.pathops.jenkins.Inputs

/**
 * Commit the Fix Agent Job (seed step 6) with the per-incident image pinned by digest.
 * Documentation: scheduleFixAgent.txt.
 */
def call(Map userConfig = [:]) {
    Map defaults = [
        env                 : 'preflight',
        gitopsBranch        : 'main',
        minioEndpoint       : 'https://minio.demo.pathops.io',
        minioBucket         : 'pathops-evidence',
        controlPlaneUrl     : 'https://control-plane.pathops.io',
        gitlabCredentialsId : 'pathops-gitlab-token',
    ]
    Map cfg = defaults << userConfig
    Inputs.check(this, 'scheduleFixAgent', cfg,
        [app: 'app', env: 'env', incidentId: 'id', snapshotId: 'snapshotId', image: 'image', gitopsRepo: 'gitUrl',
         gitopsBranch: 'label', minioEndpoint: 'url', minioBucket: 'label', controlPlaneUrl: 'url',
         gitlabCredentialsId: 'credentialsId'],
        ['app', 'incidentId', 'snapshotId', 'image', 'gitopsRepo'])
    if (!cfg.image.toString().contains('@sha256:')) {
        error('[scheduleFixAgent] image must be pinned by digest (name@sha256:...)')
    }
    withCredentials([string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]) {
        withEnv([
            'AGENT=fix-agent',
            "APP_ID=${cfg.app}",
            "ENV=${cfg.env}",
            "INCIDENT_ID=${cfg.incidentId}",
            "SNAPSHOT_ID=${cfg.snapshotId}",
            "AGENT_IMAGE=${cfg.image}",
            "GITOPS_REPO_URL=${cfg.gitopsRepo}",
            "GITOPS_BRANCH=${cfg.gitopsBranch}",
            "MINIO_ENDPOINT=${cfg.minioEndpoint}",
            "MINIO_BUCKET=${cfg.minioBucket}",
            "CONTROL_PLANE_URL=${cfg.controlPlaneUrl}",
        ]) {
            sh(label: 'gitops-patcher schedule fix-agent', script: 'gitops-patcher schedule')
        }
    }
}
