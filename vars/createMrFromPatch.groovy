import io.pathops.jenkins.Inputs

/**
 * Job create-mr-from-patch (seed steps 8-9): apply the patch bundle at the commit, push
 * cs-<id>-fix-<slug>, open or update the merge request, notify PathOps.
 * Documentation: createMrFromPatch.txt.
 */
def call(Map userConfig = [:]) {
    Map defaults = Inputs.endpoints(env) + [
        minioBucket            : 'pathops-evidence',
        draft                  : true,
        labels                 : [],
        titlePrefix            : '',
        mrFields               : [:],
        gitlabCredentialsId    : 'pathops-gitlab-token',
        minioCredentialsId     : 'pathops-minio',
        callbackCredentialsId  : 'pathops-callback-signing-key',
    ]
    Map cfg = defaults << userConfig
    Inputs.check(this, 'createMrFromPatch', cfg,
        [srcRepo: 'projectPath', sourceCommitSha: 'sha', patchId: 'patchId', changesetId: 'id', gitlabUrl: 'url',
         minioEndpoint: 'url', minioBucket: 'bucket', callbackUrl: 'url', gitlabCredentialsId: 'credentialsId',
         minioCredentialsId: 'credentialsId', callbackCredentialsId: 'credentialsId'],
        ['srcRepo', 'patchId', 'changesetId', 'gitlabUrl', 'minioEndpoint', 'callbackUrl'])
    List labels = [cfg.labels].flatten().findAll { it != null }
    labels.each { Object label ->
        if (!(label.toString() ==~ Inputs.PATTERNS.label)) {
            error('[createMrFromPatch] labels must be short words (letters, digits, : . _ -)')
        }
    }
    if (cfg.titlePrefix.toString().length() > 80 || cfg.titlePrefix.toString().contains('\n')) {
        error('[createMrFromPatch] titlePrefix must be one line of at most 80 characters')
    }
    String mrFields = fieldLines(cfg.mrFields)
    withCredentials([
        string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN'),
        usernamePassword(credentialsId: cfg.minioCredentialsId, usernameVariable: 'AWS_ACCESS_KEY_ID',
                         passwordVariable: 'AWS_SECRET_ACCESS_KEY'),
        string(credentialsId: cfg.callbackCredentialsId, variable: 'CALLBACK_SIGNING_KEY'),
    ]) {
        withEnv([
            "SRC_REPO=${cfg.srcRepo}",
            // Optional: the bundle names its base commit; when given, mr-creator checks they agree.
            "SOURCE_COMMIT_SHA=${cfg.sourceCommitSha ?: ''}",
            "PATCH_ID=${cfg.patchId}",
            "CHANGESET_ID=${cfg.changesetId}",
            "GITLAB_URL=${cfg.gitlabUrl}",
            "MINIO_ENDPOINT=${cfg.minioEndpoint}",
            "MINIO_BUCKET=${cfg.minioBucket}",
            "CONTROL_PLANE_CALLBACK_URL=${cfg.callbackUrl}",
            "MR_DRAFT=${cfg.draft ? 'true' : 'false'}",
            "MR_LABELS=${labels.join(',')}",
            "MR_TITLE_PREFIX=${cfg.titlePrefix}",
            "MR_FIELDS=${mrFields}",
        ]) {
            sh(label: 'mr-creator create', script: 'mr-creator create')
        }
    }
}

/** The MR template fields as MR_FIELDS holds them: one KEY=VALUE a line (mr-creator checks them again). */
private String fieldLines(Object fields) {
    int maxFields = 20
    int maxChars = 500
    if (!Map.isInstance(fields) || ((Map) fields).size() > maxFields) {
        error("[createMrFromPatch] mrFields must be a map of at most ${maxFields} fields")
    }
    List<String> lines = []
    ((Map) fields).each { Object key, Object value ->
        String text = value == null ? '' : value.toString()
        if (!(key.toString() ==~ /[A-Za-z][A-Za-z0-9_]{0,39}/)) {
            error('[createMrFromPatch] mrFields keys must be letters, digits and _ (alertname, severity, ...)')
        }
        if (text.length() > maxChars || text.contains('\n') || text.contains('\r')) {
            error("[createMrFromPatch] mrFields.${key} must be one line of at most ${maxChars} characters")
        }
        lines << "${key}=${text}"
    }
    return lines.join('\n')
}

