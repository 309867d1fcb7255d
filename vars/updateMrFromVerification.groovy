import io.pathops.jenkins.Inputs

/**
 * Job update-mr-from-verification (seed section 3, closing the loop): carry a preflight
 * verification report into the merge request it judged. passed: the MR leaves Draft;
 * failed or inconclusive: it stays Draft with a note. Documentation: updateMrFromVerification.txt.
 */
def call(Map userConfig = [:]) {
    Map defaults = Inputs.endpoints(env) + [
        minioBucket          : 'pathops-evidence',
        gitlabCredentialsId  : 'pathops-gitlab-token',
        minioCredentialsId   : 'pathops-minio',
        callbackCredentialsId: 'pathops-callback-signing-key',
    ]
    Map cfg = defaults << userConfig
    Inputs.check(this, 'updateMrFromVerification', cfg,
        [srcRepo: 'projectPath', mrIid: 'mrIid', reportId: 'reportId', verificationId: 'verificationId',
         gitlabUrl: 'url', minioEndpoint: 'url', minioBucket: 'bucket', gitlabCredentialsId: 'credentialsId',
         minioCredentialsId: 'credentialsId', callbackCredentialsId: 'credentialsId'],
        ['srcRepo', 'mrIid', 'reportId', 'gitlabUrl', 'minioEndpoint'])
    List<String> environment = [
        "SRC_REPO=${cfg.srcRepo}",
        "MR_IID=${cfg.mrIid}",
        "REPORT_ID=${cfg.reportId}",
        "GITLAB_URL=${cfg.gitlabUrl}",
        "MINIO_ENDPOINT=${cfg.minioEndpoint}",
        "MINIO_BUCKET=${cfg.minioBucket}",
    ]*.toString()
    if (cfg.verificationId) {
        environment << "VERIFICATION_ID=${cfg.verificationId}".toString()
    }
    withCredentials([
        string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN'),
        usernamePassword(credentialsId: cfg.minioCredentialsId, usernameVariable: 'AWS_ACCESS_KEY_ID',
                         passwordVariable: 'AWS_SECRET_ACCESS_KEY'),
        // The marker's key: only an MR the autopilot signed is updated.
        string(credentialsId: cfg.callbackCredentialsId, variable: 'CALLBACK_SIGNING_KEY'),
    ]) {
        withEnv(environment) {
            sh(label: 'mr-creator update-from-verification', script: 'mr-creator update-from-verification')
        }
    }
}
