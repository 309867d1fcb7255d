import io.pathops.jenkins.Inputs

/**
 * After a preflight deploy (seed section 3): commit the Verification Agent Job with its spec.
 * Documentation: scheduleVerificationAgent.txt.
 */
def call(Map userConfig = [:]) {
    Map defaults = [
        image               : 'harbor.demo.pathops.io/pathops/verification-agent:0.1.0',
        specFile            : 'verification.yaml',
        gitopsBranch        : 'main',
        minioEndpoint       : 'https://minio.demo.pathops.io',
        minioBucket         : 'pathops-evidence',
        controlPlaneUrl     : 'https://control-plane.pathops.io',
        gitlabCredentialsId : 'pathops-gitlab-token',
    ]
    Map cfg = defaults << userConfig
    Inputs.check(this, 'scheduleVerificationAgent', cfg,
        [app: 'app', verificationId: 'id', incidentId: 'id', expectedCommitSha: 'sha', specFile: 'path',
         image: 'image', gitopsRepo: 'gitUrl', gitopsBranch: 'label', minioEndpoint: 'url', minioBucket: 'label',
         controlPlaneUrl: 'url', gitlabCredentialsId: 'credentialsId'],
        ['app', 'verificationId', 'gitopsRepo'])
    List<String> environment = [
        'AGENT=verification-agent',
        "APP_ID=${cfg.app}",
        'ENV=preflight',
        "INCIDENT_ID=${cfg.incidentId ?: cfg.verificationId}",
        "VERIFICATION_ID=${cfg.verificationId}",
        "VERIFICATION_SPEC_FILE=${cfg.specFile}",
        "AGENT_IMAGE=${cfg.image}",
        "GITOPS_REPO_URL=${cfg.gitopsRepo}",
        "GITOPS_BRANCH=${cfg.gitopsBranch}",
        "MINIO_ENDPOINT=${cfg.minioEndpoint}",
        "MINIO_BUCKET=${cfg.minioBucket}",
        "CONTROL_PLANE_URL=${cfg.controlPlaneUrl}",
    ]
    if (cfg.expectedCommitSha) {
        environment << "EXPECTED_COMMIT_SHA=${cfg.expectedCommitSha}"
    }
    withCredentials([string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]) {
        withEnv(environment) {
            sh(label: 'gitops-patcher schedule verification-agent', script: 'gitops-patcher schedule')
        }
    }
}
